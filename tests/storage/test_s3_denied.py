"""A refused S3 request says why: the service's error code and message, and what to check.

moto verifies credentials only when told to (``INITIAL_NO_AUTH_ACTION_COUNT=0``);
then it answers 403 with an S3 error body, as AWS, OSS and COS do for a
wrong key.  The message used to end at ``403 Forbidden: <?xml version=...``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitesnap.errors import PermissionDenied
from sitesnap.storage.s3 import from_url, translate

from .servers import S3Server, free_port, stop, wait_for_port

SITESNAP = str(Path(sys.executable).with_name("sitesnap"))


@pytest.fixture(scope="module")
def checking_server() -> Iterator[S3Server]:
    """A moto server that checks access keys (it knows none, so every key is refused)."""
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                            env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, "moto_server")
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        stop(proc)


def test_a_refused_request_names_the_s3_error_and_hints_at_credentials(checking_server: S3Server) -> None:
    store = from_url("s3://bucket/site", checking_server.options())
    with pytest.raises(PermissionDenied) as caught:
        store.read("config")
    message = caught.value.message
    assert "403 InvalidAccessKeyId: The AWS Access Key Id you provided does not exist" in message, message
    assert "<?xml" not in message
    assert "access key" in caught.value.hint and "secret key" in caught.value.hint


def test_the_cli_shows_the_reason_in_one_line(checking_server: S3Server, tmp_path: Path) -> None:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIAWRONG", "AWS_SECRET_ACCESS_KEY": "wrong",
           "AWS_ENDPOINT_URL": checking_server.endpoint, "AWS_REGION": checking_server.region,
           "SITESNAP_PASSWORD": "pw"}
    res = subprocess.run([SITESNAP, "-r", "s3://bucket/site", "snapshots"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 15, res.stderr
    first, hint = res.stderr.strip().splitlines()[:2]
    assert "InvalidAccessKeyId" in first and "<?xml" not in first, res.stderr
    assert hint.startswith("hint: Check the access key"), res.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?>\n<Error><Code>"
         "SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match"
         "</Message></Error>", "x: 403 SignatureDoesNotMatch: The request signature we calculated does not match"),
        ("Server returned non-2xx status code: 403 Forbidden: <Error><Code>AccessDenied</Code></Error>",
         "x: 403 AccessDenied"),
        ("Server returned non-2xx status code: 403 Forbidden: (no body)",
         "x: Server returned non-2xx status code: 403 Forbidden: (no body)"),
    ],
)
def test_the_error_body_is_read_from_the_response(text: str, expected: str) -> None:
    err = translate(Exception(text), "x")
    assert isinstance(err, PermissionDenied) and err.kwargs["detail"] == expected
