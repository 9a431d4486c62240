#!/usr/bin/env bash
# Write the .env that docker-compose.yml reads, with fresh secrets:
#
#   scripts/compose_env.sh [FILE]     (default: .env at the repository root)
#
# It holds the RS256 signing key (a new 2048-bit RSA key), the first admin's password, the
# PostgreSQL superuser's and each service's database password (random, hex so that they go
# into database URLs unquoted), and the non-secret settings of .env.example's docker-compose
# section at their defaults. An existing file is never overwritten: delete it to make a new
# one (a new key logs everybody out; new database passwords do not reach an initialised
# PostgreSQL volume, see README "docker-compose").
set -euo pipefail
umask 077

root=$(cd "$(dirname "$0")/.." && pwd)
file=${1:-$root/.env}
if [ -e "$file" ]; then
    echo "compose_env: kept $file (delete it to make new secrets)"
    exit 0
fi
command -v openssl >/dev/null || { echo "$0: openssl is required" >&2; exit 1; }
random_secret() { openssl rand -hex 24; }
key=$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null)

cat > "$file" <<ENV
# docker-compose settings made by scripts/compose_env.sh; .env.example explains each one.
# Secret: never commit this file.
SPECIMEN_ADMIN_EMAIL=admin@specimen.local
SPECIMEN_ADMIN_PASSWORD=$(random_secret)
SPECIMEN_POSTGRES_PASSWORD=$(random_secret)
SPECIMEN_USERS_DB_PASSWORD=$(random_secret)
SPECIMEN_SEGMENT_DB_PASSWORD=$(random_secret)
SPECIMEN_CLASSIFY_DB_PASSWORD=$(random_secret)
SPECIMEN_JWT_PRIVATE_KEY="$key"
SPECIMEN_GATEWAY_PUBLISH=127.0.0.1:8000
ENV
echo "compose_env: wrote $file (the first admin's password is its SPECIMEN_ADMIN_PASSWORD line)"
