#!/usr/bin/env bash
# TEST HARNESS ONLY: the parts of the official postgres image's docker-entrypoint.sh that
# docker-compose.yml relies on: POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD(_FILE),
# POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD. Like the official image, the first
# start initialises the cluster with a temporary server listening on the socket only.
set -euo pipefail
if [[ "${1:-}" != postgres ]]; then exec "$@"; fi
shift
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
if [[ -n "${POSTGRES_PASSWORD_FILE:-}" ]]; then
  POSTGRES_PASSWORD="$(< "$POSTGRES_PASSWORD_FILE")"
fi
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE is required}"

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of options
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    ${POSTGRES_INITDB_ARGS:-} >/dev/null
  printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"
  printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [[ "$POSTGRES_DB" != postgres ]]; then
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
      --set db="$POSTGRES_DB" <<<'create database :"db"' >/dev/null
  fi
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "stand-in postgres: cluster initialised"
fi
exec postgres "$@"
