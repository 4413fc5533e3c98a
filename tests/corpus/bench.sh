#!/usr/bin/env bash
# Wall time of each corpus project's build and tests, run directly on the host
# and under `orchestra run "build and test"`, alternating, N rounds; prints
# one line per round and project, then the medians and the ratio
# orchestra/direct (issue 14's target: <= 1.10x where the build takes > 10 s).
#
#   tests/corpus/bench.sh [ROUNDS] [PROJECT...]      (default: 3 rounds, every project)
#
# Each round copies the project afresh for both sides (cold builds: no
# target/, build/, dist/; a fresh GOCACHE for the direct go run, as the jail's
# go starts with an empty cache too), and runs the commands the offline
# planner plans for "build and test" (`orchestra plan` prints them), in order,
# one at a time (`--concurrency 1` for orchestra). Both sides use the host's
# ~/.cargo (run prepare.sh first). The orchestra binary is target/release if
# built (`cargo build --release`), else target/debug; ORCHESTRA=path overrides.
# Run as the user the tests run as (root on CI); it takes a few minutes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
rounds="${1:-3}"
shift || true
projects=("$@")
[ "${#projects[@]}" -gt 0 ] || projects=(num-rational rustc-demangle mitt six cachetools jsmn cjson go-uuid)
policy="${POLICY:-build-offline}"

orchestra="${ORCHESTRA:-}"
if [ -z "$orchestra" ]; then
  for p in "$target/release/orchestra" "$target/debug/orchestra"; do
    [ -x "$p" ] && { orchestra="$p"; break; }
  done
fi
[ -x "${orchestra:-}" ] || { echo "bench: build orchestra first (cargo build --release)" >&2; exit 1; }

# The planner's commands for "build and test", per project (kept in step with
# orchestrator/src/planner/offline.rs; `orchestra plan "build and test" --workdir DIR` shows them).
direct() {
  case "$1" in
    num-rational) cargo build --offline && cargo test --offline ;;
    mitt) npm run build && npm test ;;
    rustc-demangle) cargo build --workspace --offline && cargo test --workspace --offline ;;
    six) python3 -m compileall -q . && python3 -m pytest ;;
    cachetools) python3 -m compileall -q src tests && python3 -m pytest -c pyproject.toml -o pythonpath=src ;;
    jsmn) make test ;;
    cjson) make && make test && cmake -S . -B build && cmake --build build && ctest --test-dir build ;;
    go-uuid) GOPROXY=off GOTOOLCHAIN=local go build ./... && GOPROXY=off GOTOOLCHAIN=local go test ./... ;;
    *) echo "bench: unknown project $1" >&2; return 1 ;;
  esac
}

work="$(mktemp -d "$target/corpus-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
export ORCHESTRA_AUDIT_KEY="$work/keys/audit.key"
"$orchestra" audit keygen >/dev/null 2>&1
export PATH="/usr/local/bin:/usr/bin:/bin:$HOME/.cargo/bin"
# No registry is reachable: npm's update check would wait for its timeout on
# the host side only (the jail has no network and fails fast). CI=true for both.
export CI=true npm_config_update_notifier=false

now() { date +%s.%N; }
declare -A d_times o_times d_rc o_rc
echo "orchestra: $orchestra (policy $policy), $rounds round(s), load average $(cut -d" " -f1-3 /proc/loadavg) on $(nproc) CPUs"
printf '%-15s %5s %10s %4s %10s %4s\n' project round direct_s rc orch_s rc
for ((r = 1; r <= rounds; r++)); do
  for p in "${projects[@]}"; do
    # Direct, on a fresh copy.
    ws="$work/d-$p-$r"
    cp -a "$here/$p/tree" "$ws"
    t0=$(now)
    set +e
    (cd "$ws" && GOCACHE="$work/gocache-$p-$r" direct "$p") >"$work/d-$p-$r.log" 2>&1
    rc=$?
    set -e
    t1=$(now)
    dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
    rm -rf "$ws" "$work/gocache-$p-$r"
    # Orchestra, on a fresh copy.
    ws="$work/o-$p-$r"
    cp -a "$here/$p/tree" "$ws"
    t0=$(now)
    set +e
    (cd "$ws" && CI=true "$orchestra" run "build and test" --workdir "$ws" --policy "$policy" --concurrency 1 \
      --runs-dir "$work/runs-$p-$r" --audit-dir "$work/audit-$p-$r") >"$work/o-$p-$r.log" 2>&1
    orc=$?
    set -e
    t1=$(now)
    ot=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
    rm -rf "$ws"
    printf '%-15s %5d %10.2f %4d %10.2f %4d\n' "$p" "$r" "$dt" "$rc" "$ot" "$orc"
    d_times[$p]+="$dt "
    o_times[$p]+="$ot "
    d_rc[$p]+="$rc "
    o_rc[$p]+="$orc "
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo
printf '%-15s %10s %10s %7s  %s\n' project direct_s orch_s ratio "exit codes (direct / orchestra)"
for p in "${projects[@]}"; do
  dm=$(echo "${d_times[$p]}" | median)
  om=$(echo "${o_times[$p]}" | median)
  ratio=$(awk -v a="$dm" -v b="$om" 'BEGIN {print b / a}')
  printf '%-15s %10.2f %10.2f %6.2fx  %s/ %s\n' "$p" "$dm" "$om" "$ratio" "${d_rc[$p]}" "${o_rc[$p]}"
done
echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg) (single rounds are noisy when other work shares the CPUs)"
