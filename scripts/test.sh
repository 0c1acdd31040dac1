#!/usr/bin/env bash
# Installs everything the tests need (Python packages, PostgreSQL) and runs lint and the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh test

start_postgres() {
    if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then return; fi
    if ! command -v pg_ctlcluster >/dev/null; then
        _apt_install postgresql
        # A fresh install: let the tests connect over loopback without a password.
        hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -1)
        sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && return; sleep 1; done
    echo "PostgreSQL did not start on 127.0.0.1:5432" >&2
    return 1
}
start_postgres

# A real browser for the page tests: Debian's chromium (Playwright drives it; no download).
[ -x /usr/bin/chromium ] || _apt_install chromium

# openssl makes the DKIM keys and the TLS certificate of the delivery tests.
command -v openssl >/dev/null || _apt_install openssl

# The Nu HTML Checker (npm's vnu-jar, run on the machine's Java) for the digest's markup.
command -v java >/dev/null || _apt_install default-jre-headless
command -v npm >/dev/null || _apt_install npm
VNU_JAR=.cache/vnu/node_modules/vnu-jar/build/dist/vnu.jar
if [ ! -f "$VNU_JAR" ]; then
    mkdir -p .cache/vnu
    (cd .cache/vnu && npm install --no-audit --no-fund --silent vnu-jar@26.9.27 >/dev/null)
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
