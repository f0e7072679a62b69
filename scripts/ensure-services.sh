#!/usr/bin/env bash
# The tests talk to PostgreSQL (127.0.0.1:5432, user postgres, no password) and
# Redis (127.0.0.1:6379). CI machines start both before the run; on a fresh
# Debian machine without them, install and start them locally here.
# DOCKYARD_TEST_POSTGRES / DOCKYARD_TEST_REDIS point the tests elsewhere instead.
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_install() {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ -z "${DOCKYARD_TEST_REDIS:-}" ] && ! port_open 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi

if [ -z "${DOCKYARD_TEST_POSTGRES:-}" ] && ! port_open 5432; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  # local test server only: trust loopback connections, as the CI machines do
  $SUDO grep -q "dockyard-tests" "$hba" || $SUDO sed -i \
    "1i host all all 127.0.0.1/32 trust # dockyard-tests\nhost all all ::1/128 trust # dockyard-tests" "$hba"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi

for i in $(seq 1 100); do
  { [ -n "${DOCKYARD_TEST_REDIS:-}" ] || port_open 6379; } &&
    { [ -n "${DOCKYARD_TEST_POSTGRES:-}" ] || port_open 5432; } && exit 0
  sleep 0.1
done
echo "ensure-services: PostgreSQL or Redis did not come up on 127.0.0.1" >&2
exit 1
