"""A dump read through ProcessStream arrives in full blocks, however small the program's writes."""

from __future__ import annotations

import sys

from sitesnap.sources.dbtool import ProcessStream, ToolProcess

WRITER = (
    "import sys, time\n"
    "for i in range(3000):\n"
    "    sys.stdout.buffer.write(b'INSERT INTO t VALUES (%d);\\n' % i)\n"
    "    sys.stdout.buffer.flush()\n"
    "    if i % 500 == 0: time.sleep(0.01)\n"
)


def test_row_at_a_time_writes_are_read_in_blocks() -> None:
    blocks: list[bytes] = []
    ended: list[bool] = []
    tool = ToolProcess([sys.executable, "-c", WRITER])
    try:
        stream = ProcessStream(tool, blocks.append, lambda: ended.append(tool.wait() == 0))
        data = b"".join(iter(lambda: stream.read(1 << 20), b""))
    finally:
        tool.close()
    assert data.count(b"\n") == 3000 and ended == [True] and stream.complete
    # 3,000 separate writes; a read returns only when a whole block (or the end) is there.
    assert len(blocks) <= 2, len(blocks)
