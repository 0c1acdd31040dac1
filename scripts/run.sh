#!/usr/bin/env bash
# Installs publisher into .venv and runs the main job on the embedded default (settings.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
if [ -z "${PUBLISHER_SECRET_KEY:-}" ]; then
    # A local key for the embedded default, kept out of the repository (var/ is ignored).
    mkdir -p var
    [ -s var/secret.key ] || (umask 077 && head -c 32 /dev/urandom | base64 > var/secret.key)
    PUBLISHER_SECRET_KEY=$(cat var/secret.key)
    export PUBLISHER_SECRET_KEY
fi
exec .venv/bin/publisher --config settings.toml run "$@"
