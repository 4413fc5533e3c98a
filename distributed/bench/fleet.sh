#!/usr/bin/env bash
# Distributed dispatch, side by side in one run (issue 18's benchmark):
#   1. N `true` tasks locally with `orchestra run -j 6`;
#   2. the same plan on 3 local `orchestra worker`s (capacity 2 each) through a
#      real redis-server;
#   3. a plan of BIG tasks on the same fleet, for the orchestrator's memory.
# Prints wall times, the per-task dispatch overhead (fleet minus local), the
# queue-to-start latency (p50, p95: from queueing a message to its worker's
# `started` event, as the run's audit log records it) and the orchestrator's
# peak RSS for N and BIG tasks, and where the CPU time of the N-task runs went
# (per task: the local run with its sandboxes; the fleet's orchestrator,
# workers with their sandboxes, and Redis).
# Usage: distributed/bench/fleet.sh [ORCHESTRA_BINARY] [N] [BIG]
set -euo pipefail
bin=$(realpath "${1:-target/release/orchestra}")
n=${2:-1000}
big=${3:-20000}
root=$(mktemp -d -p "$PWD" .bench-fleet.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$root"' EXIT
mkdir -p "$root/ws" "$root/home"
export HOME="$root/home" ORCHESTRA_AUDIT_KEY="$root/keys/audit.key" CI=true
"$bin" audit keygen >/dev/null 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$root" >/dev/null 2>&1 &
pids=("$!")
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
orch=$("$bin" workers keygen "$root/keys/fleet.key")
printf 'tools:\n  "true": {program: /bin/true}\ndistributed:\n  key: %s\n  unserved: 30m\n' "$root/keys/fleet.key" > "$root/config.yaml"
plan() { { echo "tasks:"; for i in $(seq 1 "$1"); do echo "  - {id: t$i, tool: \"true\"}"; done; } > "$root/ws/$2"; }
plan "$n" plan.yaml
plan "$big" big.yaml
trust=()
for w in 1 2 3; do
  pub=$("$bin" workers keygen "$root/keys/w$w.key")
  trust+=(--trust-worker "$pub")
  "$bin" worker --queue "redis://127.0.0.1:$port" --key "$root/keys/w$w.key" --trust-orchestrator "$orch" \
    --name "w$w" --capacity 2 --state-dir "$root/w$w" >"$root/w$w.log" 2>&1 &
  pids+=("$!")
done
# CPU seconds (user + system) of a process, then of its reaped children.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz, ($16 + $17) / hz }' "/proc/$1/stat"; }
cpus() { for p in "${pids[@]}"; do cpu "$p"; done | paste -sd' '; }
until [ "$(redis-cli -p "$port" hlen orchestra:workers)" = 3 ]; do sleep 0.05; done
cd "$root/ws"
# Wall time (s), peak RSS (KiB), CPU time of the command itself and of its
# children (s, user + system; read from its zombie before it is reaped).
measure() {
  python3 - "$@" >"$root/time" 2>"$root/err" <<'PY' || { cat "$root/err" >&2; exit 1; }
import os, subprocess, sys, time
t = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=open(os.environ.get("ERR", "/dev/null"), "w"))
os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
f = open("/proc/%d/stat" % p.pid).read().rsplit(")", 1)[1].split()
hz = os.sysconf("SC_CLK_TCK")
own, kids = (int(f[11]) + int(f[12])) / hz, (int(f[13]) + int(f[14])) / hz
_, status, ru = os.wait4(p.pid, 0)
wall = time.monotonic() - t
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit("exit %d" % os.waitstatus_to_exitcode(status))
print(f"{wall:.2f} {ru.ru_maxrss} {own:.2f} {kids:.2f}")
PY
  cat "$root/time"
}
common=(--config "$root/config.yaml" -j 6 --progress none)
read -r local_s local_kb local_u local_s2 < <(measure "$bin" run plan.yaml "${common[@]}" --runs-dir "$root/local" --audit-dir "$root/audit-l")
before=$(cpus)
read -r fleet_s fleet_kb fleet_u fleet_s2 < <(measure "$bin" run plan.yaml "${common[@]}" --runs-dir "$root/fleet" --audit-dir "$root/audit-f" \
  --queue "redis://127.0.0.1:$port" "${trust[@]}")
after=$(cpus)
read -r big_s big_kb _ _ < <(measure "$bin" run big.yaml "${common[@]}" --runs-dir "$root/big" --audit-dir "$root/audit-b" \
  --queue "redis://127.0.0.1:$port" "${trust[@]}")
"$bin" audit show "$root/audit-f" --kind remote_result --json > "$root/records.json"
python3 - "$n" "$big" "$local_s" "$local_kb" "$fleet_s" "$fleet_kb" "$big_s" "$big_kb" "$root/records.json" \
  "$local_u $local_s2" "$fleet_u $fleet_s2" "$before" "$after" <<'PY'
import json, sys
n, big = int(sys.argv[1]), int(sys.argv[2])
local_s, local_kb, fleet_s, fleet_kb, big_s, big_kb = map(float, sys.argv[3:9])
q = sorted(r["body"]["queued_us"] / 1000 for r in map(json.loads, open(sys.argv[9]))
           if r.get("kind") == "remote_result" and r["body"].get("queued_us") is not None)
pct = lambda p: q[min(len(q) - 1, int(p * len(q)))] if q else float("nan")
print(f"local -j 6        {n:>6} tasks  {local_s:8.2f} s  {local_s / n * 1000:7.2f} ms/task  peak RSS {local_kb / 1024:6.1f} MiB")
print(f"3 workers x 2     {n:>6} tasks  {fleet_s:8.2f} s  {fleet_s / n * 1000:7.2f} ms/task  peak RSS {fleet_kb / 1024:6.1f} MiB")
print(f"3 workers x 2     {big:>6} tasks  {big_s:8.2f} s  {big_s / big * 1000:7.2f} ms/task  peak RSS {big_kb / 1024:6.1f} MiB")
print(f"dispatch overhead {(fleet_s - local_s) / n * 1000:+.2f} ms/task (target <= 2)   ratio fleet/local {fleet_s / local_s:.2f}")
print(f"queue-to-start    p50 {pct(0.5):.2f} ms  p95 {pct(0.95):.2f} ms over {len(q)} tasks (target p50 <= 5)")
local_own, local_kids = map(float, sys.argv[10].split())
local_cpu = local_own + local_kids
orch_cpu = sum(map(float, sys.argv[11].split()))
b, a = (list(map(float, x.split())) for x in sys.argv[12:14])
d = [y - x for x, y in zip(b, a)]
redis_cpu, workers_self, sandboxes = d[0] + d[1], sum(d[2::2]), sum(d[3::2])
ms = lambda s: s / n * 1000
print(f"CPU per task      local run {ms(local_cpu):.2f} ms (orchestrator {ms(local_own):.2f} + sandboxes {ms(local_kids):.2f});"
      f"  fleet {ms(orch_cpu + workers_self + sandboxes + redis_cpu):.2f} ms")
print(f"                  fleet: orchestrator {ms(orch_cpu):.2f} + workers {ms(workers_self):.2f}"
      f" + their sandboxes {ms(sandboxes):.2f} + redis {ms(redis_cpu):.2f}")
print(f"orchestrator RSS  {big_kb / fleet_kb:.2f}x from {n} to {big} tasks (target flat, within 10 %)")
PY
