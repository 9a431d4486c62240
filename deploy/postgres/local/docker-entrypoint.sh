#!/bin/bash
# The stand-in's entry point: the official postgres image's behaviour, reduced to what
# docker-compose.yml relies on (see the Dockerfile next to this file).
set -Eeuo pipefail

if [[ $(id -u) == 0 ]]; then
    install -d -o postgres -g postgres -m 0700 "$PGDATA"
    chown postgres:postgres "$PGDATA"
    install -d -o postgres -g postgres -m 3777 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [[ ${1:-} == postgres && ! -s $PGDATA/PG_VERSION ]]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set to initialise the database}"
    export POSTGRES_USER=${POSTGRES_USER:-postgres}
    export POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
    # POSTGRES_INITDB_ARGS holds several words, as in the official image.
    # shellcheck disable=SC2086
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
        ${POSTGRES_INITDB_ARGS:-}
    printf '\nhost all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
    # Initialise on the socket only: nothing can connect before the scripts have run.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    if [[ $POSTGRES_DB != postgres ]]; then
        psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
            --set=db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    for script in /docker-entrypoint-initdb.d/*; do
        # shellcheck disable=SC1090 # the operator's scripts
        case $script in
            *.sh) echo "running $script"; if [[ -x $script ]]; then "$script"; else . "$script"; fi ;;
            *.sql) echo "running $script"
                   psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" \
                       --dbname "$POSTGRES_DB" -f "$script" ;;
            *) ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
