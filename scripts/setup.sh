#!/usr/bin/env bash
# Shared by run.sh and test.sh: a virtualenv in .venv with publisher installed.
# Usage: source scripts/setup.sh [EXTRAS]   (e.g. "test")
set -euo pipefail

_apt_install() {
    # Debian packages, only when missing and only as root (CI and fresh machines run as root).
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        if [ -z "${_APT_UPDATED:-}" ]; then apt-get update -qq; _APT_UPDATED=1; fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        echo "please install: $*" >&2
        return 1
    fi
}

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    _apt_install python3-venv
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
fi
extras=${1:-}
# PYTHONWARNINGS: keep setuptools' notes about editable installs out of the output.
PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -e ".${extras:+[$extras]}"
