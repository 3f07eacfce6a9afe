"""A user's first path: build the wheel from a clean tree, install it apart from the source, serve, log in.

The tree is what git tracks (plus new files not ignored), so a console
build left in the working copy cannot leak in: the wheel must build the
console itself.  The wheel is installed into a fresh venv without pip;
a ``.pth`` file lends it the test environment's installed dependencies
but not the source tree (nor its editable-install hook), and the test
checks that ``sitesnap`` is imported from the wheel.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sitesnap.format.crypto import FAST_TEST_KDF
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

from .conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "wheel repository passphrase"
ADMIN = ("first-admin", "first-admin-password")


def _clean_tree(dest: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    assert not (dest / "src/sitesnap/web/static/console/index.html").exists(), "a console build is tracked by git"
    modules = ROOT / "frontend" / "node_modules"
    if modules.is_dir():  # the dependencies scripts/setup.sh installed; else the build runs npm ci itself
        (dest / "frontend" / "node_modules").symlink_to(modules)
    return dest


def _install_wheel(tmp: Path) -> Path:
    """Build the wheel and install it into a pip-less venv that sees no source tree; returns the venv."""
    tree = _clean_tree(tmp / "tree")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(tree)],
                   check=True, env=env, timeout=600)
    wheel = next((tmp / "dist").glob("sitesnap-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    before = _installed_here()
    # --ignore-installed: with --prefix alone pip would first uninstall the sitesnap of this environment.
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q", "--prefix",
                    str(venv), str(wheel)], check=True, env=env, timeout=300)
    assert _installed_here() == before, "installing the wheel elsewhere changed this environment"
    site_packages = next(venv.glob("lib/python3*/site-packages"))
    (site_packages / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def _installed_here() -> list[str]:
    """What this environment has installed of sitesnap (its metadata and scripts), to check it is left alone."""
    purelib = Path(sysconfig.get_paths()["purelib"])
    found = [*purelib.glob("sitesnap-*.dist-info"), *purelib.glob("__editable__*sitesnap*"),
             Path(sysconfig.get_paths()["scripts"]) / "sitesnap"]
    return sorted(str(p) for p in found if p.exists())


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITESNAP_") and k != "PYTHONPATH"}
    env.update(SITESNAP_WHEEL_PASSWORD=PASSWORD, PYTHONUNBUFFERED="1")
    return env


def _site(root: Path) -> Path:
    (root / "uploads").mkdir(parents=True)
    (root / "uploads" / "hello.txt").write_text("hello\n")
    Repository.init(LocalStorage(root / "repo"), PASSWORD, kdf=FAST_TEST_KDF).close()
    config = root / "sitesnap.toml"
    config.write_text('[site]\nname = "first"\n\n[[sources]]\nname = "uploads"\ntype = "files"\npath = "uploads"\n\n'
                      '[[repositories]]\nname = "local"\nurl = "repo"\npassword = { env = "SITESNAP_WHEEL_PASSWORD" }\n'
                      '\n[runtime]\nstate_dir = "state"\n')
    return config


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "api/v1/health", timeout=2).close()
            return
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)


def test_the_installed_wheel_serves_a_working_console(tmp_path: Path, browser: Any) -> None:
    venv = _install_wheel(tmp_path)
    python, sitesnap = str(venv / "bin" / "python"), str(venv / "bin" / "sitesnap")
    where = subprocess.run([python, "-c", "import sitesnap; print(sitesnap.__file__)"], env=_env(), cwd=tmp_path,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert where.startswith(str(venv)), f"sitesnap came from {where}, not from the wheel"
    config = _site(tmp_path / "site")
    secret = tmp_path / "admin.password"
    secret.write_text(ADMIN[1] + "\n")
    subprocess.run([python, sitesnap, "-c", str(config), "user", "add", ADMIN[0], "--role", "admin",
                    "--password-file", str(secret)], env=_env(), check=True, capture_output=True, timeout=120)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([python, sitesnap, "-c", str(config), "serve", "--port", str(port), "--no-scheduler"],
                                env=_env(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait(url, proc, log)
        ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        page.goto(url + "#/login")
        page.fill("#login-name", ADMIN[0])
        page.fill("#login-password", ADMIN[1])
        page.click("[data-test=login-submit]")
        page.wait_for_url("**/#/dashboard")
        page.wait_for_selector("[data-test=dashboard][data-loaded=true]")
        assert "first" in page.inner_text("[data-test=dashboard]")
        ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert "console is not built" not in text and f"on {url} with waitress" in text
