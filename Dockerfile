# One image for every dbbackup function (backup, restore, alert) and the Fargate backup task, which runs it with
# entry point `node dist/functions/backup-task.js`.
#   docker build -t dbbackup .        (cdk deploy builds it; nothing else in this repository needs Docker)
# Size: about 450 MB (Lambda Node.js 22 base ~330 MB, app and node_modules ~60 MB, ~15 MB per PostgreSQL major).

# PostgreSQL majors whose pg_dump, pg_restore and psql are bundled; at run time dbbackup picks, per server,
# the newest one at least as new as the server (see README, "Which pg_dump").
ARG PG_MAJORS="15 16 17 18"

# Build: compile the TypeScript and better-sqlite3 (native) for this image's architecture.
FROM public.ecr.aws/lambda/nodejs:22 AS build
RUN dnf install -y gcc-c++ make python3 && dnf clean all
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

# PostgreSQL clients: Amazon Linux's postgresqlNN packages conflict with each other, so each major is
# installed into its own root and only its client programs are kept (they share libpq.so.5).
FROM public.ecr.aws/lambda/nodejs:22 AS postgres
ARG PG_MAJORS
RUN for v in $PG_MAJORS; do \
      if dnf install -y --installroot=/tmp/pg$v --releasever=2023 --setopt=install_weak_deps=False "postgresql$v" >/dev/null 2>&1; then \
        mkdir -p /opt/postgresql/$v/bin && cp /tmp/pg$v/usr/bin/pg_dump /tmp/pg$v/usr/bin/pg_restore /tmp/pg$v/usr/bin/psql /opt/postgresql/$v/bin/; \
      else echo "PostgreSQL $v: no postgresql$v package in this Amazon Linux release, skipped"; fi; \
    done && ls /opt/postgresql

FROM public.ecr.aws/lambda/nodejs:22
# libpq with OpenSSL (RDS force_ssl), zstd for --compression zstd.
RUN dnf install -y libpq zstd && dnf clean all
COPY --from=postgres /opt/postgresql /opt/postgresql
ENV DBBACKUP_PG_BIN_DIR=/opt/postgresql/18/bin:/opt/postgresql/17/bin:/opt/postgresql/16/bin:/opt/postgresql/15/bin
WORKDIR ${LAMBDA_TASK_ROOT}
COPY --from=build /build/package.json ./
COPY --from=build /build/node_modules node_modules
COPY --from=build /build/dist dist
COPY bin bin
CMD ["dist/functions/backup.handler"]
