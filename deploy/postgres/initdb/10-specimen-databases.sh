#!/bin/sh
# Runs once, when PostgreSQL starts on an empty volume (the official image runs every script
# of /docker-entrypoint-initdb.d then): one role and one database per service, each database
# owned by its role and closed to the others, so that no service can read another's tables.
# The passwords come from the environment (.env); psql variables quote them.
set -eu

for service in users segment classify; do
    variable="SPECIMEN_$(echo "$service" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
    password=$(printenv "$variable") || { echo "$variable is not set" >&2; exit 1; }
    psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        --set=name="specimen_$service" --set=password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
