#!/usr/bin/env bash
# Installs publisher into .venv and runs the main job on the embedded default (settings.toml):
# the scheduler, a delivery worker and the web server; it prints the address to open.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
if [ -z "${PUBLISHER_ADMIN_PASSWORD:-}" ]; then
    # A password for this run only, shown once here and kept nowhere.
    PUBLISHER_ADMIN_PASSWORD=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))')
    export PUBLISHER_ADMIN_PASSWORD
    echo "editors sign in at /admin/ with the password: $PUBLISHER_ADMIN_PASSWORD"
fi
exec .venv/bin/publisher --config settings.toml run "$@"
