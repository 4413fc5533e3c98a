#!/usr/bin/env bash
# Container start-up, side by side in one run: `orchestra exec --backend E --
# /bin/true` against the engine's own CLI, `E run --rm --network none IMAGE
# /bin/true`, for Docker and Podman, in three modes: supervised (the default),
# supervisor off, and supervised with the container pool. Prints the means and
# the ratios.
#   images/bench.sh [RUNS] [ORCHESTRA]
# ORCHESTRA defaults to target/release/orchestra if built; the supervisor is the
# one it embeds (always built small and optimised), unless ORCHESTRA_SUPERVISOR_BIN
# names another.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
default_orch=target/debug/orchestra
[ -x target/release/orchestra ] && default_orch=target/release/orchestra
orch=$(realpath "${2:-$default_orch}")
echo "bench: $orch, supervisor ${ORCHESTRA_SUPERVISOR_BIN:-built in}" >&2
image=orchestra-task:1
ws=$(mktemp -d); chown 1000:1000 "$ws"; audit=$(mktemp -d)
mean_ms() { # command...
  local t0 t1
  # warm-up, and proof the command works: a failing command would time nothing.
  "$@" >/dev/null 2>"$ws.err" || { echo "bench: $* failed: $(tail -1 "$ws.err")" >&2; exit 1; }
  t0=$(date +%s%N)
  for _ in $(seq "$runs"); do "$@" >/dev/null 2>&1; done
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / runs / 1000 ))
}
pool_dir=$(mktemp -d); chmod 700 "$pool_dir"
trap 'ORCHESTRA_CONTAINER_POOL_DIR="$pool_dir/p" "$orch" pool drain >/dev/null 2>&1; rm -rf "$ws" "$audit" "$pool_dir"' EXIT
for engine in docker podman; do
  # required, off: a fresh container per task, created by the task.
  # pool: required, with ORCHESTRA_CONTAINER_POOL=2 (a fresh container per task,
  # created and, on Podman, initialised ahead by a detached filler; its work
  # runs on the same machine, between and during the timed runs).
  for mode in required off pool; do
    sup=$mode pool=0
    [ "$mode" = pool ] && sup=required pool=2
    pol=$(mktemp --suffix=.yaml); printf 'container:\n  supervisor: %s\n' "$sup" >"$pol"
    o=$(cd "$ws" && ORCHESTRA_CONTAINER_POOL=$pool ORCHESTRA_CONTAINER_POOL_DIR="$pool_dir/p" \
      mean_ms "$orch" exec --backend "$engine" --policy "$pol" --audit-dir "$audit" -- /bin/true)
    rm -f "$pol"
    ORCHESTRA_CONTAINER_POOL_DIR="$pool_dir/p" "$orch" pool drain >/dev/null 2>&1 || true
    # Podman's CLI needs the same runtime settings as its API service (images/README.md).
    cli=("$engine")
    [ "$engine" = podman ] && cli+=(--runtime runc --cgroup-manager cgroupfs)
    "${cli[@]}" run --rm --network none --ulimit nproc=4096:4096 --ulimit nofile=1024:1024 "$image" /bin/true >/dev/null \
      || { echo "bench: $engine run failed" >&2; exit 1; }
    c=$(mean_ms "${cli[@]}" run --rm --network none --ulimit nproc=4096:4096 --ulimit nofile=1024:1024 "$image" /bin/true)
    awk -v e="$engine" -v s="$mode" -v o="$o" -v c="$c" 'BEGIN {
      printf "%-6s mode=%-8s orchestra %7.1f ms   %s run %7.1f ms   ratio %.2f (target <= 0.70)\n", e, s, o/1000, e, c/1000, o/c }'
  done
done
