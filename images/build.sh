#!/usr/bin/env bash
# Build the container backend's images offline, for Docker and (when it is
# installed) Podman. No registry is contacted: every image is a rootfs tar
# imported into the engine. See images/README.md.
#
#   images/build.sh            build what is missing
#   images/build.sh --force    rebuild
#
# Prints one line per image and engine: `<engine> <name> <image id>`, the id
# to pin in a policy (`container.image_id`).
set -euo pipefail
cd "$(dirname "$0")/.."

force=false
for arg in "$@"; do
  case $arg in
    --force) force=true ;;
    *) echo "images: unknown argument $arg" >&2; exit 1 ;;
  esac
done

TASK_IMAGE=orchestra-task:1
BUILD_IMAGE=orchestra-build:2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The task user: uid/gid 1000, as in the jail. root stays in passwd so tools
# that look up uid 0 work; nothing runs as root.
write_etc() {
  local root=$1
  mkdir -p "$root/etc"
  printf 'root:x:0:0:root:/root:/bin/sh\ntask:x:1000:1000:task:/work:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\ntask:x:1000:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf 'hosts: files\npasswd: files\ngroup: files\n' >"$root/etc/nsswitch.conf"
  printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
}

# Mount points the engine and the backend fill at run time.
skeleton() {
  local root=$1
  for d in proc dev sys tmp work root .orchestra; do mkdir -p "$root/$d"; done
  chmod 1777 "$root/tmp"
  write_etc "$root"
}

# orchestra-task: busybox-static (Debian package, extracted, not installed)
# with its applet links, and nothing else.
task_rootfs() {
  local root=$work/task
  skeleton "$root"
  (cd "$work" && apt-get download -qq busybox-static >/dev/null 2>&1) || {
    echo "images: apt-get download busybox-static failed (run apt-get update first)" >&2
    exit 1
  }
  dpkg-deb -x "$work"/busybox-static_*.deb "$work/bb"
  mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin"
  cp "$work/bb/bin/busybox" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done
  tar -C "$root" --numeric-owner -cf "$work/task.tar" .
}

# orchestra-build: the merged-/usr skeleton of a Debian system. The host's
# /usr (gcc, make, a Rust toolchain) is bind-mounted read-only at run time by
# the `container-build` policy: nothing is copied, nothing is pulled.
build_rootfs() {
  local root=$work/build
  skeleton "$root"
  mkdir -p "$root/usr"
  for l in bin sbin lib lib64; do ln -s "usr/$l" "$root/$l"; done
  # Debian's alternatives (cc, c++, java, …) are links from /usr/bin into
  # /etc/alternatives and back into /usr: the host's links, copied (links only).
  if [ -d /etc/alternatives ]; then
    mkdir -p "$root/etc/alternatives"
    find /etc/alternatives -maxdepth 1 -type l -exec cp -P {} "$root/etc/alternatives/" \;
  fi
  tar -C "$root" --numeric-owner -cf "$work/build.tar" .
}

import() {
  local engine=$1 tar=$2 name=$3
  if ! $force && "$engine" image inspect "$name" >/dev/null 2>&1; then
    :
  else
    q=(); [ "$engine" = podman ] && q=(--quiet) # Docker 28's client has no --quiet
    "$engine" import "${q[@]}" --change 'USER 1000:1000' --change 'WORKDIR /work' "$tar" "$name" >/dev/null
  fi
  echo "$engine $name $("$engine" image inspect --format '{{.Id}}' "$name")"
}

task_rootfs
build_rootfs
engines=(docker)
command -v podman >/dev/null 2>&1 && engines+=(podman)
for engine in "${engines[@]}"; do
  import "$engine" "$work/task.tar" "$TASK_IMAGE"
  import "$engine" "$work/build.tar" "$BUILD_IMAGE"
done

# The in-container supervisor is not built here: `cargo build` builds the
# static orchestra-sandbox (sandbox/build.rs) and orchestra embeds it.
