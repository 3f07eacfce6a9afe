"""``sitesnap serve`` runs waitress on loopback and says where; an unbuilt console is a page that says so."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from flask import Flask
from tests.web.conftest import PASSWORD, Site

from sitesnap.web.routes.console import console_built, make_console_blueprint, make_unbuilt_blueprint
from sitesnap.web.server import console_warning

SITESNAP = str(Path(sys.executable).with_name("sitesnap"))
INDEX = """<!doctype html><html><head>
<script type="module" crossorigin src="./assets/index-abc.js"></script>
<link rel="stylesheet" crossorigin href="./assets/index-def.css">
</head><body><div id="app"></div></body></html>"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_uses_waitress_on_loopback_and_says_where(site: Site) -> None:
    port = _free_port()
    env = {**os.environ, "SITESNAP_TEST_PASSWORD": PASSWORD}
    log_path = site.root / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([SITESNAP, "-c", str(site.config), "serve", "--port", str(port), "--no-scheduler"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as response:
                    server_header = response.headers["Server"]
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
        with socket.socket() as probe:  # bound to loopback only: another local address is refused
            addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
            others = sorted(a for a in addresses if not a.startswith("127."))
            if others:
                assert probe.connect_ex((others[0], port)) != 0
    finally:
        proc.terminate()  # SIGTERM, as systemd stops a service: a clean exit, not death by signal
        returncode = proc.wait(timeout=30)
    out = log_path.read_text()
    assert returncode == 0, out
    assert f"on http://127.0.0.1:{port}/ with waitress" in out
    assert server_header == "sitesnap"
    assert "development server" not in out.lower() and "werkzeug" not in out.lower()


def test_serve_refuses_a_port_in_use_in_one_line(site: Site) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "SITESNAP_TEST_PASSWORD": PASSWORD}
        done = subprocess.run([SITESNAP, "-c", str(site.config), "serve", "--port", str(port), "--no-scheduler"],
                              env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def _console_app(directory: Path) -> Flask:
    app = Flask(__name__)
    app.register_blueprint(make_console_blueprint(directory) if console_built(directory) else make_unbuilt_blueprint())
    return app


def test_an_index_without_its_assets_is_not_a_build(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(INDEX)
    assert not console_built(tmp_path)
    warning = console_warning(tmp_path)
    assert warning is not None and "npm run build" in warning
    page = _console_app(tmp_path).test_client().get("/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "not built" in text and "npm run build" in text and "api/v1/health" in text

    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    assert not console_built(tmp_path)  # the stylesheet is still missing
    (tmp_path / "assets" / "index-def.css").write_text("body{}")
    assert console_built(tmp_path) and console_warning(tmp_path) is None
    page = _console_app(tmp_path).test_client().get("/")
    assert page.get_data(as_text=True) == INDEX


def test_no_index_at_all_is_not_a_build(tmp_path: Path) -> None:
    assert not console_built(tmp_path / "missing")
    assert console_warning(tmp_path / "missing") is not None


def test_the_production_server_refuses_tls_files_it_would_not_use(tmp_path: Path) -> None:
    """Serving plain HTTP where the configuration asks for TLS would be worse than not starting."""
    import pytest

    from sitesnap.errors import ConfigError
    from sitesnap.web.server import Listen, run_server

    listen = Listen("127.0.0.1", _free_port(), tls=(tmp_path / "cert.pem", tmp_path / "key.pem"))
    announced: list[str] = []
    with pytest.raises(ConfigError) as refused:
        run_server(Flask(__name__), listen, announced.append)
    assert "behind_proxy" in (refused.value.hint or "") and announced == []
