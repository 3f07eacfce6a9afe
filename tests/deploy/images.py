"""Container images for the deployment test, made here without a container registry.

A Debian base image comes from ``debootstrap`` (Debian's mirror is reachable,
Docker Hub is not) and is imported into podman.  Its tarball is cached under
``/var/cache/sitesnap-test/`` keyed by the hash of its recipe, so only the first
run pays for the download; a changed recipe makes a new key.  The tarball is
written to a temporary name and renamed, so an interrupted run leaves nothing
that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CACHE = Path(os.environ.get("SITESNAP_TEST_IMAGE_CACHE", "/var/cache/sitesnap-test"))
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
# What the stack's images need from Debian: Python 3.11 for sitesnap and the blog, the
# PostgreSQL 15 client for pg_dump/psql, and, for the local stand-ins of the postgres and
# redis images, the servers themselves.
PACKAGES = ("ca-certificates", "python3", "python3-venv", "postgresql-client-15", "postgresql-15",
            "redis-server", "procps")
RECIPE = {"suite": SUITE, "mirror": MIRROR, "variant": "minbase", "packages": PACKAGES, "version": 1}
# Podman as this machine runs it: runc, cgroups without systemd, no default ulimits.
CONTAINERS_CONF = """[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
"""


def recipe_key() -> str:
    return hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:12]


def base_tarball() -> Path:
    """The cached root file system of the base image, made by debootstrap when missing."""
    target = CACHE / f"debian-{SUITE}-{recipe_key()}.tar"
    if target.is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="rootfs-") as root:
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, root, MIRROR],
                       check=True, capture_output=True, timeout=1500)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in Path(root, cache).glob("*.deb"):
                item.unlink()
        partial = target.with_suffix(".tar.partial")
        subprocess.run(["tar", "-C", root, "--numeric-owner", "-cf", str(partial), "."], check=True, timeout=600)
        partial.rename(target)
    return target


def podman_env(work: Path) -> dict[str, str]:
    """The environment for podman and podman-compose: this machine's containers.conf."""
    conf = work / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def base_image(env: dict[str, str]) -> str:
    """The base image's name in podman, imported from the cached tarball when podman lacks it."""
    name = f"localhost/sitesnap-test-base:{recipe_key()}"
    if subprocess.run(["podman", "image", "exists", name], env=env).returncode != 0:
        subprocess.run(["podman", "import", "--change", "CMD=/bin/bash", str(base_tarball()), name], env=env,
                       check=True, capture_output=True, timeout=600)
    return name


def tools_missing() -> list[str]:
    return [tool for tool in ("podman", "podman-compose", "runc", "debootstrap") if shutil.which(tool) is None]
