#!/usr/bin/env bash
# Install Dockyard into ./.venv and start it on the embedded default
# (SQLite + local folder, port 5000). Extra arguments go to `dockyard serve`.
#
# The `dockyard` command lives in .venv/bin; so that the commands in README.md and
# docs/ run as written, it is linked into /usr/local/bin (as root) or ~/.local/bin,
# unless a `dockyard` that is not this one is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e .

cli="$PWD/.venv/bin/dockyard"
if [ "$(id -u)" -eq 0 ]; then bindir=/usr/local/bin; else bindir="$HOME/.local/bin"; fi
link="$bindir/dockyard"
if [ -e "$link" ] && [ "$(readlink -f "$link")" != "$(readlink -f "$cli")" ]; then
  echo "run.sh: $link is another dockyard; this one is $cli" >&2
else
  mkdir -p "$bindir" && ln -sfn "$cli" "$link"
  echo "run.sh: linked $link -> $cli" >&2
  case ":$PATH:" in
    *":$bindir:"*) ;;
    *) echo "run.sh: $bindir is not on your PATH: export PATH=\"$bindir:\$PATH\"" >&2 ;;
  esac
fi
exec "$cli" serve "$@"
