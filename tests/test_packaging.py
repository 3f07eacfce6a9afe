"""The packaging hook (setup.py) refuses to build a package without the web console."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = "import runpy; runpy.run_path('setup.py')['build_console'](); print('console ready')"


def _tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "frontend").mkdir(parents=True)
    (tree / "frontend" / "package.json").write_text("{}")
    shutil.copy2(ROOT / "setup.py", tree / "setup.py")
    return tree


def _build(tree: Path) -> subprocess.CompletedProcess[str]:
    no_npm = {"PATH": str(Path(sys.executable).parent)}  # python, and no npm
    return subprocess.run([sys.executable, "-c", BUILD], cwd=tree, env=no_npm, capture_output=True, text=True,
                          timeout=60, check=False)


def test_without_npm_and_without_a_build_the_package_build_fails_loudly(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    console = tree / "src" / "sitesnap" / "web" / "static" / "console"
    console.mkdir(parents=True)
    (console / "index.html").write_text('<script type="module" src="./assets/index-x.js"></script>')
    done = _build(tree)  # an index.html whose script is missing is no build
    assert done.returncode != 0
    assert "the web console is not built" in done.stderr and "npm is not installed" in done.stderr


def test_without_npm_a_complete_build_is_packed_as_it_is(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    console = tree / "src" / "sitesnap" / "web" / "static" / "console"
    (console / "assets").mkdir(parents=True)
    (console / "index.html").write_text('<script type="module" src="./assets/index-x.js"></script>')
    (console / "assets" / "index-x.js").write_text("console.log(1)")
    done = _build(tree)
    assert done.returncode == 0 and "console ready" in done.stdout, done.stderr
