#!/usr/bin/env bash
# Makes the Docker image `dbbackup-pgclient:MAJOR`: Debian SUITE's PostgreSQL MAJOR client programs
# (pg_dump, pg_restore, psql) on a base made by make-debian-base.sh. The matrix runs clients of
# majors bookworm does not carry this way, each with the C library of the suite that built it.
#
#   make-client-image.sh MAJOR SUITE          e.g. make-client-image.sh 17 trixie
set -euo pipefail
major=${1:?usage: make-client-image.sh MAJOR SUITE}
suite=${2:?usage: make-client-image.sh MAJOR SUITE}
image=dbbackup-pgclient:$major
here=$(cd "$(dirname "$0")" && pwd)

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "client: $image already present"
  exit 0
fi
"$here/make-debian-base.sh" "$suite"
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
# Check-Valid-Until off: a testing suite's Release (forky's) expires within days, and a mirror or a
# machine clock a little behind must not stop the build; the signatures are still checked.
cat >"$context/Dockerfile" <<DOCKERFILE
FROM dbbackup-base:$suite
RUN apt-get -o Acquire::Check-Valid-Until=false update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-client-$major >/dev/null \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \\
 && /usr/lib/postgresql/$major/bin/pg_dump --version
DOCKERFILE
echo "client: building $image from $suite"
docker build --quiet --force-rm --network host -t "$image" "$context" >/dev/null
echo "client: $image built ($(docker run --rm "$image" /usr/lib/postgresql/"$major"/bin/pg_dump --version))"
