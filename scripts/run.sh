#!/usr/bin/env bash
# Install Dockyard into ./.venv and start it on the embedded default
# (SQLite + local folder, port 5000). Extra arguments go to `dockyard serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e .
exec .venv/bin/dockyard serve "$@"
