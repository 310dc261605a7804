# One image for every dbbackup function (backup, restore, alert) and the Fargate runner.
# Build: docker build -t dbbackup .   (cdk deploy builds it; nothing here needs Docker to synth or test)
# Size: about 450 MB (Node 22 base ~350 MB, PostgreSQL clients ~40 MB per major, app ~60 MB).

# PostgreSQL majors whose pg_dump/pg_restore are bundled; the engine picks per server at run time.
ARG PG_MAJORS="13 14 15 16 17 18"

FROM public.ecr.aws/lambda/nodejs:22 AS build
RUN dnf install -y gcc-c++ make python3 && dnf clean all
WORKDIR /build
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY shared shared
COPY cli cli
COPY functions functions
COPY infra infra
COPY bench bench
COPY test test
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM public.ecr.aws/lambda/nodejs:22
ARG PG_MAJORS
# PGDG builds for Amazon Linux 2023, with OpenSSL so RDS force_ssl works; zstd for --compression zstd.
RUN dnf install -y zstd shadow-utils \
 && for v in $PG_MAJORS; do dnf install -y "postgresql${v}" 2>/dev/null || echo "PostgreSQL $v client not in the enabled repositories"; done \
 && dnf clean all
ENV DBBACKUP_PG_BIN_DIR=/usr/pgsql-18/bin:/usr/pgsql-17/bin:/usr/pgsql-16/bin:/usr/pgsql-15/bin:/usr/pgsql-14/bin:/usr/pgsql-13/bin
WORKDIR ${LAMBDA_TASK_ROOT}
COPY --from=build /build/package.json ./
COPY --from=build /build/node_modules node_modules
COPY --from=build /build/dist dist
COPY bin bin
CMD ["dist/functions/backup.handler"]
