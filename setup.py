"""Packaging hook: every wheel and sdist carries the built web console.

The console (``frontend/``, Vue + Vite) is built into
``src/sitesnap/web/static/console/``, which git ignores: a build is an
artifact of packaging, never a committed file that can go stale.  Building
a wheel or an sdist therefore runs the Vite build first, when
``frontend/package.json`` is there and npm is installed (``npm ci`` only
when ``frontend/node_modules`` is missing).  Without npm the build goes on
only when a complete console is already in place (a wheel built from an
sdist, which carries it); otherwise it stops with a message saying what to
install.  Editable installs skip all this: ``sitesnap serve`` says when the
console is missing and how to build it.

Everything else about the package is declared in pyproject.toml.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.errors import SetupError

ROOT = Path(__file__).resolve().parent
FRONTEND = ROOT / "frontend"
CONSOLE = ROOT / "src" / "sitesnap" / "web" / "static" / "console"
# The same test as sitesnap.web.routes.console.console_built (this file cannot import the package).
ASSET_REF = re.compile(r"""(?:src|href)=["']\.?/?(assets/[^"'?#]+)["']""")


def console_complete() -> bool:
    """True when index.html and every asset it names are in place."""
    try:
        page = (CONSOLE / "index.html").read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    return all((CONSOLE / ref).is_file() for ref in ASSET_REF.findall(page))


def build_console() -> None:
    """Run the Vite build, or make sure a complete build is present; raise SetupError if neither."""
    npm = shutil.which("npm")
    if (FRONTEND / "package.json").is_file() and npm:
        if not (FRONTEND / "node_modules").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=FRONTEND, check=True)
        subprocess.run([npm, "run", "build", "--silent"], cwd=FRONTEND, check=True)
    if not console_complete():
        reason = "npm is not installed" if (FRONTEND / "package.json").is_file() else "frontend/ is missing"
        raise SetupError(f"the web console is not built in {CONSOLE} and cannot be built here ({reason}): "
                         "install Node.js and npm (Debian: apt-get install -y npm), then build again")


class BuildPyWithConsole(build_py):
    """build_py that builds the console first (not for editable installs)."""

    def run(self) -> None:
        if not self.editable_mode:
            build_console()
        super().run()


class SdistWithConsole(sdist):
    """sdist that builds the console first, so the archive carries it."""

    def run(self) -> None:
        build_console()
        super().run()


if __name__ == "__main__":  # as setuptools runs it; importing it only defines the hook (tests do)
    setup(cmdclass={"build_py": BuildPyWithConsole, "sdist": SdistWithConsole})
