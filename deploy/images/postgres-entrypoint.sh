#!/bin/sh
# The official postgres image's interface, reduced: on an empty PGDATA, initdb with the
# superuser POSTGRES_USER (postgres) and POSTGRES_PASSWORD, password logins (SCRAM; or
# POSTGRES_HOST_AUTH_METHOD) from any address, the database POSTGRES_DB; then the server,
# listening on every interface of the container, with the arguments given (e.g. -c fsync=off).
set -eu
: "${PGDATA:=/var/lib/postgresql/18/docker}"
user="${POSTGRES_USER:-postgres}"
auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"  # `trust`: no password (a throwaway test database)
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA" && chmod 0700 "$PGDATA"
  pwfile="$(mktemp)"
  if [ "$auth" = trust ]; then
    initdb -D "$PGDATA" -U "$user" --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  else
    : "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust for a throwaway database)}"
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust --auth-host="$auth" \
      --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  fi
  rm -f "$pwfile"
  echo "host all all all $auth" >> "$PGDATA/pg_hba.conf"
  db="${POSTGRES_DB:-$user}"
  if [ "$db" != postgres ]; then
    postgres --single -D "$PGDATA" postgres >/dev/null <<SQL
CREATE DATABASE "$db";
SQL
  fi
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
