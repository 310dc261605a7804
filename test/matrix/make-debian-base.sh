#!/usr/bin/env bash
# Makes a Docker image of a Debian suite's minimal root filesystem, from deb.debian.org, with no
# image registry: debootstrap into a cached directory, then `docker import`. Reusable for any image
# built from a locally made Debian base (the matrix's client images; later the Lambda image).
#
#   make-debian-base.sh SUITE [IMAGE]        e.g. make-debian-base.sh trixie  (→ dbbackup-base:trixie)
#
# The root filesystem is kept as a tarball in $DBBACKUP_MATRIX_CACHE (default /var/cache/dbbackup-matrix),
# so a second run (or a machine whose Docker images were pruned) only imports it again.
set -euo pipefail
suite=${1:?usage: make-debian-base.sh SUITE [IMAGE]}
image=${2:-dbbackup-base:$suite}
cache=${DBBACKUP_MATRIX_CACHE:-/var/cache/dbbackup-matrix}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base: $image already present"
  exit 0
fi
mkdir -p "$cache"
tarball="$cache/rootfs-$suite.tar"
if [[ ! -s $tarball ]]; then
  command -v debootstrap >/dev/null || { echo "base: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
  dir=$(mktemp -d "$cache/rootfs-$suite.XXXXXX")
  trap 'rm -rf "$dir" "$tarball.tmp"' EXIT
  # A suite newer than this debootstrap (forky on bookworm) has no script of its own: testing's
  # suites bootstrap exactly as sid does (Debian's own scripts for them are links to sid).
  script=/usr/share/debootstrap/scripts/$suite
  [[ -e $script ]] || script=/usr/share/debootstrap/scripts/sid
  echo "base: debootstrap $suite from $mirror"
  debootstrap --variant=minbase "$suite" "$dir" "$mirror" "$script" >"$dir.log" 2>&1 || {
    tail -n 20 "$dir.log" >&2
    rm -f "$dir.log"
    exit 1
  }
  rm -f "$dir.log"
  # apt-get clean: the package cache is not part of an image.
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi
docker import "$tarball" "$image" >/dev/null
echo "base: $image imported from $tarball"
