#!/bin/sh
# First start: initdb with a password, the database, the init scripts.  Then the server.
set -eu
BIN=/usr/lib/postgresql/15/bin
DATA=/var/lib/postgresql/data
USER_NAME="${POSTGRES_USER:-postgres}"
as_pg() { su postgres -s /bin/sh -c "$1"; }
mkdir -p "$DATA" && chown postgres:postgres "$DATA" && chmod 700 "$DATA"
if [ ! -s "$DATA/PG_VERSION" ]; then
  printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile && chown postgres /tmp/pwfile
  as_pg "$BIN/initdb -D $DATA -U $USER_NAME --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8" >/dev/null
  rm -f /tmp/pwfile
  echo "host all all all scram-sha-256" >> "$DATA/pg_hba.conf"
  as_pg "$BIN/pg_ctl -D $DATA -o '-c listen_addresses= -c unix_socket_directories=/tmp' -w start" >/dev/null
  if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != "$USER_NAME" ]; then
    as_pg "psql -h /tmp -U $USER_NAME -d postgres -v ON_ERROR_STOP=1 -c 'CREATE DATABASE \"$POSTGRES_DB\"'"
  fi
  for script in /docker-entrypoint-initdb.d/*.sql; do
    [ -e "$script" ] && as_pg "psql -h /tmp -U $USER_NAME -d ${POSTGRES_DB:-postgres} -v ON_ERROR_STOP=1 -f $script"
  done
  as_pg "$BIN/pg_ctl -D $DATA -m fast -w stop" >/dev/null
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$BIN/postgres" -D "$DATA" -c listen_addresses='*' -c unix_socket_directories=/tmp
