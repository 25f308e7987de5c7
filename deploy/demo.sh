#!/usr/bin/env bash
# `make demo`, the main job end to end through the control plane: start `lc0-train serve`
# (embedded Ray, local disk), submit configs/tiny.textproto, watch it to completion, print
# where the checkpoints and the exported lc0 networks are, and stop the server. Exits non-zero
# if the job does not succeed.
set -euo pipefail
VENV=${VENV:-.venv}
STATE=runs/demo-service          # server-local state: the job database and the server log
STORAGE=runs/service             # job directories (what would be shared storage on a cluster)
mkdir -p "$STATE"
rm -f "$STATE/port"
"$VENV/bin/lc0-train" serve --address 127.0.0.1:0 --port-file "$STATE/port" --storage "$STORAGE" \
    --db "$STATE/jobs.sqlite3" >"$STATE/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 600); do
    [ -s "$STATE/port" ] && break
    kill -0 "$server" 2>/dev/null || { echo "the server did not start:" >&2; cat "$STATE/server.log" >&2; exit 1; }
    sleep 0.2
done
[ -s "$STATE/port" ] || { echo "the server did not start in time" >&2; exit 1; }
echo "control plane on 127.0.0.1:$(cat "$STATE/port") (log: $STATE/server.log)"
LC0_TRAIN_SERVER="127.0.0.1:$(cat "$STATE/port")" "$VENV/bin/lc0-train" submit configs/tiny.textproto --wait
