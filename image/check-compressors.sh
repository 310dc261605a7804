#!/bin/sh
# Fails the image build unless the compressors dbbackup runs work here: ISA-L's igzip (the fast gzip;
# without it every gzip backup silently falls back to zlib at a fifth of the speed) and zstd. Each
# must start, and a sample must round-trip through it, and igzip's output through plain gzip too
# (what a user restoring by hand would run).
set -eu
status=0
sample=$(printf 'dbbackup image check %s\n' 1 2 3 4 5 6 7 8 9)
check() {
  name=$1; shift
  if out=$("$@" 2>&1); then
    if [ "$out" = "$sample" ]; then echo "check-compressors: $name round-trips"; return; fi
    echo "check-compressors: $name returned other bytes than it was given" >&2
  else
    echo "check-compressors: $name failed: $out" >&2
  fi
  status=1
}
for program in igzip zstd; do
  if ! version=$("$program" --version 2>&1); then
    echo "check-compressors: $program does not run: $version" >&2; status=1; continue
  fi
  echo "check-compressors: $program: $(echo "$version" | head -n 1)"
done
check 'igzip -2 | igzip -d' sh -c "printf '%s\n' \"\$0\" | igzip -q -c -2 | igzip -q -d -c" "$sample"
check 'igzip -2 | gzip -d' sh -c "printf '%s\n' \"\$0\" | igzip -q -c -2 | gzip -d -c" "$sample"
check 'zstd | zstd -d' sh -c "printf '%s\n' \"\$0\" | zstd -q -c -3 | zstd -q -d -c" "$sample"
exit $status
