#!/usr/bin/env bash
# Corpus preparation, on the host (with network): what tests/it/corpus.rs needs
# before orchestra builds the corpus offline. Idempotent and quiet once
# everything is in place; fails loudly when a tool is missing.
#
# - The registry dependencies of num-rational and of the rustc-demangle
#   workspace (pinned by their Cargo.lock) are fetched into the invoking
#   user's ~/.cargo, where a user's `cargo fetch` puts them; the tasks then
#   build with `cargo --offline`.
# - The toolchains the corpus uses must be on PATH (.ci/run installs the
#   Debian packages): a missing one is an error here, not a skipped test.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
for tool in cargo make gcc cmake ctest meson ninja go node npm tsc; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
/usr/bin/python3 -m pytest --version >/dev/null 2>&1 || missing+=("pytest (python3-pytest)")
/usr/bin/python3 -c 'import setuptools' >/dev/null 2>&1 || missing+=("setuptools (python3-setuptools)")
[ -f "$(/usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_path("include"))')/Python.h" ] \
  || missing+=("Python.h (python3-dev)")
if [ "${#missing[@]}" -gt 0 ]; then
  echo "corpus: missing tools: ${missing[*]}" >&2
  exit 1
fi

# Into ~/.cargo even when CARGO_HOME points elsewhere: the presets mount
# ~/.cargo/registry (read-only) for the tasks.
for project in num-rational rustc-demangle; do
  CARGO_HOME="$HOME/.cargo" cargo fetch --locked --quiet --manifest-path "$project/tree/Cargo.toml"
done
