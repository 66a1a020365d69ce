#!/usr/bin/env bash
# make hq: HQ on this machine for a newcomer. Starts a PostgreSQL (Debian's
# package postgresql; data in .hq/pg, as an unprivileged user: PostgreSQL
# refuses root) and a mosquitto on free ports, unless HQ_POSTGRES_URL /
# HQ_MQTT_URL name ones to use; then bin/storeedge-hq on them. Prints where
# the fleet page is and how to link a store. Ctrl-C stops everything it
# started; the data stays in .hq/ for the next run (rm -rf .hq to start over).
#
# Environment: HQ_POSTGRES_URL, HQ_MQTT_URL (use these instead of starting
# one), HQ_LISTEN (HTTP address, default 127.0.0.1:8090 or the next free
# port), HQ_DIR (default .hq).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=${HQ_DIR:-$root/.hq}
mkdir -p "$dir"
bin=$root/bin/storeedge-hq
[ -x "$bin" ] || { echo "hq-up: $bin missing (make hq builds it)" >&2; exit 1; }

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "hq-up: stopping"
  # storeedge-hq first (it acknowledges what it holds), then the broker and
  # the database it used.
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    p=${pids[i]}
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}
trap cleanup INT TERM EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p=$1
  while ! port_free "$p"; do p=$((p+1)); done
  echo "$p"
}
wait_port() { # port seconds what
  local i
  for ((i=0; i<$2*10; i++)); do
    port_free "$1" || return 0
    sleep 0.1
  done
  echo "hq-up: $3 did not open port $1 within $2 s" >&2
  return 1
}

# --- PostgreSQL ---
pg_url=${HQ_POSTGRES_URL:-}
if [ -z "$pg_url" ]; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n | tail -1)
  if [ -z "$pgbin" ] || [ ! -x "$pgbin/postgres" ]; then
    echo "hq-up: PostgreSQL not found: install the Debian package postgresql (make deps), or set HQ_POSTGRES_URL" >&2
    exit 1
  fi
  asuser=()
  pgdir=$dir/pg
  if [ "$(id -u)" -eq 0 ]; then
    # PostgreSQL refuses to run as root: it runs as nobody, in a directory
    # nobody can reach (.hq/ may sit under a home nobody may not enter).
    asuser=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
    if ! "${asuser[@]}" test -x "$dir" 2>/dev/null; then
      pgdir=${TMPDIR:-/tmp}/storeedge-hq-pg-$(echo -n "$dir" | md5sum | cut -c1-8)
      echo "hq-up: $dir is not reachable by the user nobody; PostgreSQL's data goes to $pgdir"
    fi
    mkdir -p "$pgdir"
    chown 65534:65534 "$pgdir"
  fi
  mkdir -p "$pgdir"
  chmod 700 "$pgdir"
  if [ ! -f "$pgdir/data/PG_VERSION" ]; then
    echo "hq-up: initdb in $pgdir/data"
    "${asuser[@]}" "$pgbin/initdb" -D "$pgdir/data" -U hq --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  "${asuser[@]}" mkdir -p "$pgdir/sock"
  pg_port=$(free_port 55432)
  "${asuser[@]}" "$pgbin/postgres" -D "$pgdir/data" -p "$pg_port" -k "$pgdir/sock" -h 127.0.0.1 \
    >"$dir/postgres.log" 2>&1 &
  pids+=($!)
  wait_port "$pg_port" 30 PostgreSQL || { tail -20 "$dir/postgres.log" >&2; exit 1; }
  for i in $(seq 1 100); do
    "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break
    sleep 0.1
  done
  if ! "$pgbin/psql" -h 127.0.0.1 -p "$pg_port" -U hq -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'hq'" | grep -q 1; then
    "$pgbin/psql" -h 127.0.0.1 -p "$pg_port" -U hq -d postgres -qc "CREATE DATABASE hq"
  fi
  pg_url="postgres://hq@127.0.0.1:$pg_port/hq?sslmode=disable"
fi

# --- mosquitto ---
mqtt_url=${HQ_MQTT_URL:-}
if [ -z "$mqtt_url" ]; then
  mosq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
  [ -x "$mosq" ] || { echo "hq-up: mosquitto not found: install the Debian package mosquitto (make deps), or set HQ_MQTT_URL" >&2; exit 1; }
  mq_port=$(free_port 18830)
  mkdir -p "$dir/mosquitto"
  {
    echo "listener $mq_port 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence true"
    echo "persistence_location $dir/mosquitto/"
    echo "log_dest file $dir/mosquitto.log"
    echo "max_queued_messages 1000000"
    # As root mosquitto would switch to the user mosquitto, who cannot
    # write .hq/.
    [ "$(id -u)" -eq 0 ] && echo "user root"
  } >"$dir/mosquitto.conf"
  "$mosq" -c "$dir/mosquitto.conf" >"$dir/mosquitto.out" 2>&1 &
  pids+=($!)
  wait_port "$mq_port" 10 mosquitto || { cat "$dir/mosquitto.out" >&2; exit 1; }
  mqtt_url="mqtt://127.0.0.1:$mq_port"
fi

# --- storeedge-hq ---
listen=${HQ_LISTEN:-127.0.0.1:$(free_port 8090)}
cat >"$dir/hq.yaml" <<EOF
# Written by make hq (scripts/hq-up.sh); the URLs come from its flags.
seal:
  keys_env: STOREEDGE_HQ_KEYS
  keys_file: $dir/seal.keys
push:
  vapid_key_file: $dir/vapid.pem
EOF
"$bin" -config "$dir/hq.yaml" -postgres "$pg_url" -mqtt "$mqtt_url" -listen "$listen" -client-id "storeedge-hq-local" \
  2> >(tee -a "$dir/storeedge-hq.log" >&2) &
pids+=($!)
ready=""
for i in $(seq 1 300); do
  if command -v curl >/dev/null 2>&1; then
    if curl -fsS "http://$listen/readyz" >/dev/null 2>&1; then ready=1; break; fi
  elif ! port_free "${listen##*:}"; then
    ready=1; break
  fi
  kill -0 "${pids[-1]}" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ready" ] || { echo "hq-up: storeedge-hq did not become ready (see $dir/storeedge-hq.log)" >&2; exit 1; }

# An API key to sign in to the fleet page with: made once, kept in the
# data directory (mode 0600), printed at each start.
if [ ! -s "$dir/api.key" ]; then
  ( umask 077; "$bin" -config "$dir/hq.yaml" -postgres "$pg_url" key add "local newcomer" \
      | grep -o 'hqk_[0-9a-z_]*' >"$dir/api.key" ) || { echo "hq-up: could not make an API key" >&2; exit 1; }
fi

cat <<EOF

HQ is up.
  fleet page    http://$listen/   (sign in with the API key below)
  API key       $(cat "$dir/api.key")   (more: bin/storeedge-hq -config $dir/hq.yaml -postgres '$pg_url' key add NAME)
  health        http://$listen/readyz   metrics http://$listen/metrics
  PostgreSQL    $pg_url
  HQ's broker   $mqtt_url
  logs          $dir/

Link a store to it: in the store's configuration (store.yaml), set

  cloud:
    url: "$mqtt_url"
    home_url: "http://$listen/home/"

and restart the store (make run). It announces itself, sends a snapshot of
its bookings, conversations and shop, and from then on everything it files.
Its chat page then offers "Continue at home", which opens HQ's page at
http://$listen/home/ (the live view at home needs a TURN server: hq.yaml
home_camera, see the README).

Ctrl-C stops HQ, its broker and its database (the data stays in $dir).
EOF
wait "${pids[-1]}"
