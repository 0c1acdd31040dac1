#!/usr/bin/env bash
# Installs publisher into .venv and runs the main job on the embedded default (settings.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
exec .venv/bin/publisher --config settings.toml run "$@"
