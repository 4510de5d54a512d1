#!/usr/bin/env bash
# Start (or stop) the services the tests need, on loopback, as private
# instances under a state folder: PostgreSQL from Debian's packages and the
# versitygw S3-compatible server (posix backend). Installs what is missing.
#
#   scripts/services.sh start [STATE_DIR]   # prints export lines for the env
#   scripts/services.sh stop  [STATE_DIR]
#
# Ports: PostgreSQL 25432, versitygw 27070 (override PG_PORT, S3_PORT):
# below Linux's ephemeral range (32768-60999), so that no client's outgoing
# connection can hold them when the services start.
set -euo pipefail
cmd=${1:-start}
state=${2:-/tmp/tandem-services}
PG_PORT=${PG_PORT:-25432}
S3_PORT=${S3_PORT:-27070}
S3_KEY=${S3_KEY:-tandemtest}
S3_SECRET=${S3_SECRET:-tandemtestsecret}
VGW_VERSION=v1.8.0

log() { echo "services: $*" >&2; }

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  echo "$d"
}

install_pg() {
  if [ -z "$(pg_bin)" ]; then
    log "installing PostgreSQL from Debian's packages"
    if [ ! -f /tmp/.tandem-apt-updated ]; then apt-get update -qq >&2 && touch /tmp/.tandem-apt-updated; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  fi
}

install_etcd() {
  # The etcd witness backend is tested against a real etcd (the tests start
  # it themselves on loopback from this binary).
  if ! command -v etcd >/dev/null; then
    log "installing etcd-server from Debian's packages"
    if [ ! -f /tmp/.tandem-apt-updated ]; then apt-get update -qq >&2 && touch /tmp/.tandem-apt-updated; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >&2
  fi
}

install_vgw() {
  if ! command -v versitygw >/dev/null && [ ! -x "$(go env GOPATH)/bin/versitygw" ]; then
    log "installing versitygw $VGW_VERSION with go install"
    go install github.com/versity/versitygw/cmd/versitygw@$VGW_VERSION >&2
  fi
}

start_pg() {
  local bin; bin=$(pg_bin)
  local data=$state/pg
  mkdir -p "$state"
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"; chown -R postgres:postgres "$state" "$data"
    runuser -u postgres -- "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  chown -R postgres:postgres "$data"
  # A port still held (another program's socket, a server stopping) is
  # retried for a while before giving up.
  local try
  for try in 1 2 3 4 5 6 7 8 9 10; do
    if runuser -u postgres -- "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then break; fi
    if runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$state/pg.log" -w \
      -o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null; then break; fi
    if [ "$try" = 10 ]; then log "PostgreSQL did not start on 127.0.0.1:$PG_PORT (see $state/pg.log)"; return 1; fi
    sleep 3
  done
  log "PostgreSQL on 127.0.0.1:$PG_PORT"
}

start_vgw() {
  local root=$state/s3
  mkdir -p "$root/tandem-test"
  if [ -f "$state/vgw.pid" ] && kill -0 "$(cat "$state/vgw.pid")" 2>/dev/null; then return; fi
  local vgw; vgw=$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")
  ROOT_ACCESS_KEY=$S3_KEY ROOT_SECRET_KEY=$S3_SECRET nohup "$vgw" --port 127.0.0.1:$S3_PORT posix "$root" >"$state/vgw.log" 2>&1 &
  echo $! >"$state/vgw.pid"
  for _ in $(seq 50); do
    if (echo >/dev/tcp/127.0.0.1/$S3_PORT) 2>/dev/null; then break; fi
    sleep 0.1
  done
  if ! kill -0 "$(cat "$state/vgw.pid")" 2>/dev/null; then
    log "versitygw did not start on 127.0.0.1:$S3_PORT (see $state/vgw.log)"; return 1
  fi
  log "versitygw on 127.0.0.1:$S3_PORT (bucket tandem-test)"
}

case $cmd in
  start)
    install_pg; install_etcd; install_vgw; start_pg; start_vgw
    cat <<EOT
export TANDEM_TEST_POSTGRES=postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable
export TANDEM_TEST_S3='s3://tandem-test?endpoint=http://127.0.0.1:$S3_PORT&use_path_style=true&region=us-east-1&disable_https=true'
export AWS_ACCESS_KEY_ID=$S3_KEY
export AWS_SECRET_ACCESS_KEY=$S3_SECRET
export AWS_REGION=us-east-1
export TANDEM_REQUIRE_ETCD=1
EOT
    ;;
  stop)
    bin=$(pg_bin)
    [ -n "$bin" ] && [ -d "$state/pg" ] && runuser -u postgres -- "$bin/pg_ctl" -D "$state/pg" -m fast stop >/dev/null 2>&1 || true
    [ -f "$state/vgw.pid" ] && kill "$(cat "$state/vgw.pid")" 2>/dev/null || true
    rm -f "$state/vgw.pid"
    ;;
  *) echo "usage: $0 start|stop [STATE_DIR]" >&2; exit 2 ;;
esac
