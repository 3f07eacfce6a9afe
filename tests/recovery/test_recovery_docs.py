"""docs/partial-recovery.md stays true: every option of ``mount`` and ``diff`` and the mount's exit codes."""

from __future__ import annotations

from pathlib import Path

from sitesnap.cli.commands.diff import diff
from sitesnap.cli.commands.mount import mount
from sitesnap.engine.mounttree import snapshot_dir_names
from sitesnap.errors import MissingTool, UsageError

DOC = (Path(__file__).resolve().parents[2] / "docs" / "partial-recovery.md").read_text(encoding="utf-8")


def test_every_option_is_documented() -> None:
    for command in (mount, diff):
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt != "--json":
                    assert f"`{opt}" in DOC, (command.name, opt)


def test_exit_codes_and_layout_match_the_code() -> None:
    assert f"(exit {UsageError.exit_code}" in DOC and f"(exit {MissingTool.exit_code}" in DOC
    for top in ("snapshots/", "ids/", "tags/", "latest/"):
        assert top in DOC
    assert snapshot_dir_names.__doc__ and "short ID" in snapshot_dir_names.__doc__ and "short ID" in DOC
