# One image for every dbbackup function (backup, restore, alert) and the Fargate backup task, which runs it with
# entry point `/var/lang/bin/node /var/task/dist/functions/backup-task.js` (infra/constructs/backup-tasks.ts).
#   docker build --network host -t dbbackup .          (cdk deploy builds it; `npm run test:image` builds and runs it)
#
# Base: Debian. AWS's Lambda base images are not used because the PostgreSQL clients must come complete
# with the libraries they link: Debian builds every postgresql-client-NN against the one public libpq.so.5,
# so a client of an older suite runs on a newer suite's libpq and C library (that is how the PostgreSQL
# project's own apt repository ships every major on one system). Node.js is Debian's own (forky: 24);
# the Lambda Runtime API is spoken by AWS's runtime interface client, aws-lambda-ric (image/package.json).
#
# Each base is a build argument so that a machine without a registry can build from a locally made base
# (test/matrix/make-debian-base.sh); the defaults are Docker Hub's official Debian images.
ARG BASE_IMAGE=debian:forky-slim
# The suites that carry the other bundled client majors (Debian ships one major per suite).
ARG PG13_BASE_IMAGE=debian:bullseye-slim
ARG PG15_BASE_IMAGE=debian:bookworm-slim
ARG PG17_BASE_IMAGE=debian:trixie-slim

# Build: the TypeScript, better-sqlite3 and aws-lambda-ric (both native) for this image's Node.js and
# architecture. node-gyp finds Node's headers in /usr (libnode-dev): it cannot download them here.
FROM ${BASE_IMAGE} AS build
RUN apt-get -o Acquire::Check-Valid-Until=false update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      nodejs npm libnode-dev g++ make cmake autoconf automake libtool python3 xz-utils curl ca-certificates >/dev/null
ENV npm_config_nodedir=/usr npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
# A build machine behind a TLS-inspecting proxy passes its CA certificates (PEM text, public) here; they are
# trusted by this build stage only and never reach the image.
ARG BUILD_EXTRA_CA_CERTS=""
RUN if [ -n "$BUILD_EXTRA_CA_CERTS" ]; then \
      printf '%s\n' "$BUILD_EXTRA_CA_CERTS" >/usr/local/share/ca-certificates/build-extra.crt && update-ca-certificates >/dev/null; \
    fi
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
# The runtime interface client, in its own folder with its own lock file; the build leaves only its addon.
WORKDIR /opt/lambda-ric
COPY image/package.json image/package-lock.json ./
RUN npm ci --omit=dev && test -f node_modules/aws-lambda-ric/rapid-client.node \
 && rm -rf node_modules/node-gyp node_modules/aws-lambda-ric/deps node_modules/aws-lambda-ric/src
WORKDIR /build
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
# Only the runtime code (tsconfig.build.json): the image holds no tests, benchmarks or CDK app.
COPY shared shared
COPY cli cli
COPY functions functions
# better-sqlite3 needs only its compiled addon at run time; its SQLite and C++ sources, object files
# and makefiles (~27 MB) are build leftovers. Loading it once proves the addon is still found.
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev \
 && cd node_modules/better-sqlite3 \
 && mv build/Release/better_sqlite3.node . && rm -rf build deps src binding.gyp \
 && mkdir -p build/Release && mv better_sqlite3.node build/Release/ \
 && node -e "new (require('better-sqlite3'))(':memory:').close()"
# The RDS certificate authorities (README, "TLS to RDS"). A build that cannot fetch them fails here:
# an image without them could not verify any RDS server. `npm run test:image` points this at a stand-in.
ARG RDS_CA_BUNDLE_URL=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
RUN curl --fail --silent --show-error --location --max-time 60 -o /rds-global-bundle.pem "$RDS_CA_BUNDLE_URL" \
 && grep -q 'BEGIN CERTIFICATE' /rds-global-bundle.pem

# Clients: each major from the suite that carries it, its three programs copied to /usr/lib/postgresql/N/bin,
# where Debian puts them (the final stage checks they run there). Check-Valid-Until off: a testing suite's
# Release file expires within days and a mirror a little behind must not stop a build; signatures are still checked.
FROM ${PG13_BASE_IMAGE} AS pg13
RUN apt-get -o Acquire::Check-Valid-Until=false update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-client-13 >/dev/null \
 && mkdir -p /out/13/bin && cp /usr/lib/postgresql/13/bin/pg_dump /usr/lib/postgresql/13/bin/pg_restore /usr/lib/postgresql/13/bin/psql /out/13/bin/

FROM ${PG15_BASE_IMAGE} AS pg15
RUN apt-get -o Acquire::Check-Valid-Until=false update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-client-15 >/dev/null \
 && mkdir -p /out/15/bin && cp /usr/lib/postgresql/15/bin/pg_dump /usr/lib/postgresql/15/bin/pg_restore /usr/lib/postgresql/15/bin/psql /out/15/bin/

FROM ${PG17_BASE_IMAGE} AS pg17
RUN apt-get -o Acquire::Check-Valid-Until=false update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-client-17 >/dev/null \
 && mkdir -p /out/17/bin && cp /usr/lib/postgresql/17/bin/pg_dump /usr/lib/postgresql/17/bin/pg_restore /usr/lib/postgresql/17/bin/psql /out/17/bin/

FROM ${BASE_IMAGE} AS pg18
RUN apt-get -o Acquire::Check-Valid-Until=false update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-client-18 >/dev/null \
 && mkdir -p /out/18/bin && cp /usr/lib/postgresql/18/bin/pg_dump /usr/lib/postgresql/18/bin/pg_restore /usr/lib/postgresql/18/bin/psql /out/18/bin/

FROM ${BASE_IMAGE}
# Node.js 24; libpq 18 (every bundled client's libpq.so.5, with OpenSSL for RDS), the client programs'
# other libraries, zstd for --compression zstd, isal for igzip (ISA-L's gzip, about 5x zlib's speed).
RUN apt-get -o Acquire::Check-Valid-Until=false update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      nodejs libpq5 libreadline8t64 liblz4-1 libzstd1 zlib1g zstd isal ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && mkdir -p /var/lang/bin && ln -s /usr/bin/node /var/lang/bin/node
COPY --from=pg13 /out/ /usr/lib/postgresql/
COPY --from=pg15 /out/ /usr/lib/postgresql/
COPY --from=pg17 /out/ /usr/lib/postgresql/
COPY --from=pg18 /out/ /usr/lib/postgresql/
COPY image/check-clients.sh /usr/local/bin/dbbackup-check-clients
COPY image/check-compressors.sh /usr/local/bin/dbbackup-check-compressors
ENV DBBACKUP_PG_BIN_DIR=/usr/lib/postgresql/18/bin:/usr/lib/postgresql/17/bin:/usr/lib/postgresql/15/bin:/usr/lib/postgresql/13/bin
# The build fails unless every bundled client runs: no missing library, `--version` of its own major.
RUN dbbackup-check-clients /usr/lib/postgresql/18/bin /usr/lib/postgresql/17/bin /usr/lib/postgresql/15/bin /usr/lib/postgresql/13/bin
# And unless igzip and zstd run and round-trip a sample: a missing igzip would only make gzip slower, silently.
RUN dbbackup-check-compressors
COPY --from=build /rds-global-bundle.pem /opt/dbbackup/rds-global-bundle.pem
COPY --from=build /opt/lambda-ric /opt/lambda-ric
COPY image/lambda-entrypoint.sh /lambda-entrypoint.sh
ENV LAMBDA_TASK_ROOT=/var/task
WORKDIR /var/task
COPY --from=build /build/package.json ./
COPY --from=build /build/node_modules node_modules
COPY --from=build /build/dist dist
COPY bin bin
ENTRYPOINT ["/lambda-entrypoint.sh"]
CMD ["dist/functions/backup.handler"]
