#!/bin/sh
# Fails the image build unless every bundled PostgreSQL client program runs here: each one's shared
# libraries all resolve (ldd reports none "not found") and `--version` names the major of its
# directory. A client that cannot start would otherwise surface at night as a failed backup.
set -eu
status=0
for dir in "$@"; do
  major=$(basename "$(dirname "$dir")")
  for program in pg_dump pg_restore psql; do
    path="$dir/$program"
    if [ ! -x "$path" ]; then echo "check-clients: $path is missing" >&2; status=1; continue; fi
    missing=$(ldd "$path" | grep 'not found' || true)
    if [ -n "$missing" ]; then echo "check-clients: $path lacks libraries: $missing" >&2; status=1; continue; fi
    version=$("$path" --version) || { echo "check-clients: $path --version failed" >&2; status=1; continue; }
    case "$version" in
      *"(PostgreSQL) $major."*) echo "check-clients: $path: $version" ;;
      *) echo "check-clients: $path is not PostgreSQL $major: $version" >&2; status=1 ;;
    esac
  done
done
exit $status
