"""A small site for CLI tests: an uploads folder (one incompressible file), a repository, a config naming both."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SITESNAP = str(Path(sys.executable).with_name("sitesnap"))
PASSWORD = "first user"


def env(**extra: str) -> dict[str, str]:
    out = {**os.environ, "SITESNAP_PASSWORD": PASSWORD, "COLUMNS": "120", **extra}
    for name in ("SITESNAP_REPOSITORY", "SITESNAP_CONFIG", "SITESNAP_PASSWORD_FILE"):
        out.pop(name, None)
    return out


def sitesnap(*args: str, cwd: Path, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``sitesnap`` script as a user would."""
    return subprocess.run([SITESNAP, *args], cwd=cwd, env=env(**extra), text=True, capture_output=True,
                          timeout=timeout)


def make_site(root: Path, *, upload_bytes: int = 1 << 20, repo_password: str | None = None,
              extra_sources: str = "") -> Path:
    """Write ``root/sitesnap.toml`` (site ``blog``: uploads + repository ``main``), init the repository.

    ``extra_sources``: more ``[[sources]]`` tables, as TOML text.
    """
    (root / "uploads").mkdir(parents=True)
    (root / "uploads" / "photo.jpg").write_bytes(os.urandom(upload_bytes))
    own = ""
    if repo_password:
        (root / "password").write_text(repo_password + "\n")
        own = f'password = {{ file = "{root / "password"}" }}\n'

    config = root / "sitesnap.toml"
    config.write_text('[site]\nname = "blog"\n[[sources]]\nname = "uploads"\ntype = "files"\npath = "uploads"\n'
                      f'{extra_sources}[[repositories]]\nname = "main"\nurl = "repo"\n{own}')
    init = sitesnap("-r", str(root / "repo"), "init", "--kdf", "scrypt", cwd=root,
                    SITESNAP_PASSWORD=repo_password or PASSWORD)
    assert init.returncode == 0, init.stderr
    return config
