#!/usr/bin/env bash
# Distributed dispatch overhead, side by side in one run: N `true` tasks on 3
# local workers (capacity 2 each) through a real redis-server, against the same
# plan with `orchestra run -j 6` locally. Prints wall times and the per-task
# difference. Usage: distributed/bench/fleet.sh [ORCHESTRA_BINARY] [N]
set -euo pipefail
bin=$(realpath "${1:-target/release/orchestra}")
n=${2:-1000}
root=$(mktemp -d -p "$PWD" .bench-fleet.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$root"' EXIT
mkdir -p "$root/ws" "$root/home"
export HOME="$root/home" ORCHESTRA_AUDIT_KEY="$root/keys/audit.key" CI=true
"$bin" audit keygen >/dev/null 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$root" >/dev/null 2>&1 &
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
orch=$("$bin" workers keygen "$root/keys/fleet.key")
printf 'tools:\n  "true": {program: /bin/true}\ndistributed:\n  key: %s\n' "$root/keys/fleet.key" > "$root/config.yaml"
{ echo "tasks:"; for i in $(seq 1 "$n"); do echo "  - {id: t$i, tool: \"true\"}"; done; } > "$root/ws/plan.yaml"
trust=()
for w in 1 2 3; do
  pub=$("$bin" workers keygen "$root/keys/w$w.key")
  trust+=(--trust-worker "$pub")
  "$bin" worker --queue "redis://127.0.0.1:$port" --key "$root/keys/w$w.key" --trust-orchestrator "$orch" \
    --name "w$w" --capacity 2 --state-dir "$root/w$w" >"$root/w$w.log" 2>&1 &
done
until [ "$(redis-cli -p "$port" hlen orchestra:workers)" = 3 ]; do sleep 0.05; done
cd "$root/ws"
t0=$(date +%s.%N)
"$bin" run plan.yaml --config "$root/config.yaml" --runs-dir "$root/local" --audit-dir "$root/audit-l" -j 6 --progress none
t1=$(date +%s.%N)
"$bin" run plan.yaml --config "$root/config.yaml" --runs-dir "$root/fleet" --audit-dir "$root/audit-f" -j 6 --progress none \
  --queue "redis://127.0.0.1:$port" "${trust[@]}"
t2=$(date +%s.%N)
python3 - "$t0" "$t1" "$t2" "$n" <<'PY'
import sys
t0, t1, t2, n = map(float, sys.argv[1:5])
local, fleet = t1 - t0, t2 - t1
print(f"{int(n)} tasks   local -j 6: {local:.2f} s ({local/n*1000:.2f} ms/task)   "
      f"3 workers x 2: {fleet:.2f} s ({fleet/n*1000:.2f} ms/task)   "
      f"ratio {fleet/local:.2f}   overhead {(fleet-local)/n*1000:+.2f} ms/task")
PY
