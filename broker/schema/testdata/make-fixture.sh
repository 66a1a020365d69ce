#!/bin/bash
# Makes testdata/TAG/: the database a released storeedge leaves after a short
# simulated store day. Run from the repository root: broker/schema/testdata/make-fixture.sh TAG
set -euo pipefail
TAG=$1
OUT=$(pwd)/broker/schema/testdata/$TAG
SRC=$(mktemp -d /tmp/fixture-src-XXXXXX)
RUN=$(mktemp -d /tmp/fixture-run-XXXXXX)
cleanup() { git worktree remove --force "$SRC" 2>/dev/null || true; rm -rf "$SRC" "$RUN"; }
trap cleanup EXIT

# The released build, from its tag, in a throwaway worktree.
git worktree add --detach "$SRC" "$TAG"
(cd "$SRC" && go build -o bin/storeedge ./broker/cmd/storeedge && go build -o bin/firmware-sim ./firmware-sim)
cd "$SRC"

# 1. A short simulated day on a fresh data_dir: the registry, the
#    catalogue, accounts, chats, bookings and their progress.
./bin/firmware-sim -spawn ./bin/storeedge -dir "$RUN" -kiosks 2 -tablets 2 -cameras 1 -staff 2 -duration 15s -video=false

# 2. The same store again with a link to HQ that never connects (what it
#    files for HQ stays in the outbox) and the cameras on: staff watch them
#    and take snapshots, stored as media blobs.
printf 'cloud:\n  url: "mqtt://127.0.0.1:9"\n  reconnect_min: 1s\n  reconnect_max: 5s\n' >> "$RUN/store/store.yaml"
TCP=$(sed -n 's/^  tcp: "\(.*\)"/\1/p' "$RUN/store/store.yaml")
./bin/storeedge -config "$RUN/store/store.yaml" >> "$RUN/store/broker.log" 2>&1 &
PID=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/${TCP%:*}/${TCP#*:}") 2>/dev/null && break; sleep 0.2; done
./bin/firmware-sim -broker "mqtt://$TCP" -kiosks 2 -tablets 2 -cameras 1 -staff 2 -duration 30s -video=true
kill -TERM $PID
wait $PID

# 3. The stopped store's files: the database (gzip), its sealing key (a
#    throwaway key of this fixture), the registry and the catalogue.
mkdir -p "$OUT"
gzip -9 -c "$RUN/store/data/storeedge.db" > "$OUT/storeedge.db.gz"
cp "$RUN/store/data/seal.keys" "$RUN/store/devices.yaml" "$RUN/store/services.yaml" "$OUT/"
ls -l "$OUT"
