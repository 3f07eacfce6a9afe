"""The systemd units in deploy/ are valid, hardened, and start commands that exist.

``systemd-analyze verify`` checks each unit with its ExecStart pointed at this
environment's ``sitesnap`` (the one path an installation changes);
``systemd-analyze security --offline`` scores its sandbox, and the test
holds the exposure at 2.0 or below.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitesnap.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "deploy" / "systemd"
INSTALLED = "/opt/sitesnap/bin/sitesnap"
SITESNAP = str(Path(sys.executable).with_name("sitesnap"))
COMMANDS = {"sitesnap-serve.service": "serve", "sitesnap-scheduler.service": "scheduler",
            "sitesnap-worker.service": "worker"}
HARDENING = ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=read-only", "PrivateTmp=yes",
             "PrivateDevices=yes", "CapabilityBoundingSet=", "SystemCallFilter=@system-service", "UMask=0077")


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze is missing: apt-get install -y systemd (scripts/setup.sh does)")
    return found


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_unit_verifies_and_is_hardened(name: str, tmp_path: Path) -> None:
    text = (UNITS / name).read_text(encoding="utf-8")
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    assert argv[0] == INSTALLED and argv[1] == COMMANDS[name]
    assert CliRunner().invoke(cli, [*argv[1:], "-h"]).exit_code == 0, f"{name}: {argv[1:]} is not a valid command"
    for setting in HARDENING:
        assert setting in text.splitlines(), f"{name} lacks {setting}"
    unit = tmp_path / name
    unit.write_text(text.replace(INSTALLED, SITESNAP), encoding="utf-8")
    done = subprocess.run([_analyze(), "verify", str(unit)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr
    score = subprocess.run([_analyze(), "security", "--offline=true", "--threshold=20", str(unit)],
                           capture_output=True, text=True, timeout=120, check=False)
    assert score.returncode == 0, score.stdout[-2000:]
