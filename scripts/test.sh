#!/usr/bin/env bash
# The whole test suite, from a fresh clone: install what it needs, then run it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
scripts/ensure-services.sh
.venv/bin/ruff check src tests bench
.venv/bin/mypy
# in DOCKYARD_TEST_PROCESSES processes (pytest-xdist), a test file to one process, so a
# file's module-scoped servers are started once; DOCKYARD_TEST_PROCESSES=0 runs in this one.
# Files are handed out in the order tests/conftest.py gives (the longest first), not
# xdist's default of the files with the most tests first.
exec .venv/bin/pytest -q -p no:cacheprovider -n "${DOCKYARD_TEST_PROCESSES:-3}" --dist loadfile \
  --no-loadscope-reorder "$@"
