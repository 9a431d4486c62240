#!/bin/sh
# Run once by the postgres image, when it initialises an empty data directory: one login role
# and one database per service, the database owned by its role and closed to everyone else.
# Each role's password is read from the mounted specimen-postgres Secret; psql quotes it.
set -eu
secrets=${SPECIMEN_POSTGRES_SECRETS:-/run/secrets/postgres}

create_database() {
    psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        --set name="specimen_$1" --set password_file="$secrets/$1-password" <<'SQL'
\set password `cat :'password_file'`
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
}

create_database users
create_database segment
create_database classify
