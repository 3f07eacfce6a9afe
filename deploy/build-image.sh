#!/bin/sh
# Build the sitesnap container image from this checkout:
#   deploy/build-image.sh                      # -> localhost/sitesnap:latest, with podman or docker
# Environment: SITESNAP_IMAGE (the tag), BASE (a Debian 12 image), ENGINE (podman|docker),
# PYTHON (a Python 3.11+ with pip, which builds the wheels; the console build needs npm).
set -eu
cd "$(dirname "$0")/.."
ENGINE="${ENGINE:-$(command -v podman || command -v docker)}"
IMAGE="${SITESNAP_IMAGE:-localhost/sitesnap:latest}"
PYTHON="${PYTHON:-python3}"
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
# The wheels are resolved for this host's Python; redis also needs async-timeout on Python
# before 3.11.3, which Debian 12's 3.11.2 is, so it is named here.
"$PYTHON" -m pip wheel --quiet --wheel-dir "$context/wheels" ".[server,db]" flask "async-timeout>=4.0.3"
cp examples/flask_blog/blog.py "$context/blog.py"
# --network=host: the build's apt-get reaches the Debian mirror the way this host does.
"$ENGINE" build --network=host ${BASE:+--build-arg "BASE=$BASE"} -f deploy/Containerfile -t "$IMAGE" "$context"
echo "built $IMAGE"
