#!/usr/bin/env bash
# Write the files a Kubernetes overlay's secretGenerator reads, into its git-ignored secrets/:
#
#   scripts/k8s_secrets.sh dev  [DIR]   throwaway values for a development cluster: signing key,
#                                       admin password, PostgreSQL passwords and URLs, Redis URL,
#                                       a self-signed certificate for specimen.localtest.me
#   scripts/k8s_secrets.sh prod [DIR]   the signing key, and specimen.env from the caller's
#                                       SPECIMEN_USERS_DATABASE_URL, SPECIMEN_SEGMENT_DATABASE_URL,
#                                       SPECIMEN_CLASSIFY_DATABASE_URL, SPECIMEN_REDIS_URL (optional)
#                                       and SPECIMEN_ADMIN_PASSWORD (random when unset)
#
# DIR defaults to k8s/overlays/<overlay>/secrets. An existing file is never overwritten (delete
# it to make a new one; README "Rotating the signing key" says what a new key implies).
set -euo pipefail
umask 077

overlay=${1:-}
case "$overlay" in
    dev | prod) ;;
    *) echo "usage: $0 dev|prod [SECRETS_DIR]" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${2:-$root/k8s/overlays/$overlay/secrets}
mkdir -p "$dir"
command -v openssl >/dev/null || { echo "$0: openssl is required" >&2; exit 1; }

say() { echo "k8s_secrets: $*"; }
random_secret() { openssl rand -hex 24; }

# One line per value: a secretGenerator env file takes everything after the first "=".
env_line() {
    case "$2" in
        *$'\n'*) echo "$0: the value of $1 must be one line" >&2; exit 1 ;;
    esac
    printf '%s=%s\n' "$1" "$2"
}

if [ -e "$dir/jwt-private-key.pem" ]; then
    say "kept $dir/jwt-private-key.pem"
else
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/jwt-private-key.pem" 2>/dev/null
    say "wrote $dir/jwt-private-key.pem (RS256 signing key)"
fi
# Public keys of retired signing keys, still published until their tokens expire (README:
# "Rotating the signing key"); empty outside a rotation.
if [ ! -e "$dir/jwt-previous-public-keys.pem" ]; then
    : > "$dir/jwt-previous-public-keys.pem"
    say "wrote an empty $dir/jwt-previous-public-keys.pem"
fi

if [ "$overlay" = dev ]; then
    if [ -e "$dir/specimen.env" ] && [ -e "$dir/postgres.env" ]; then
        say "kept $dir/specimen.env and $dir/postgres.env"
    elif [ -e "$dir/specimen.env" ] || [ -e "$dir/postgres.env" ]; then
        echo "$0: only one of specimen.env and postgres.env exists in $dir; the database URLs" \
             "hold the PostgreSQL passwords, so delete both to make them again" >&2
        exit 1
    else
        users=$(random_secret) segment=$(random_secret) classify=$(random_secret)
        {
            echo "# Development only: throwaway PostgreSQL passwords (scripts/k8s_secrets.sh dev)."
            env_line postgres-password "$(random_secret)"
            env_line users-password "$users"
            env_line segment-password "$segment"
            env_line classify-password "$classify"
        } > "$dir/postgres.env"
        {
            echo "# Development only: throwaway values (scripts/k8s_secrets.sh dev)."
            env_line admin-password "$(random_secret)"
            env_line users-database-url "postgresql+psycopg://specimen_users:$users@postgres:5432/specimen_users"
            env_line segment-database-url "postgresql+psycopg://specimen_segment:$segment@postgres:5432/specimen_segment"
            env_line classify-database-url "postgresql+psycopg://specimen_classify:$classify@postgres:5432/specimen_classify"
            env_line redis-url "redis://redis:6379/0"
        } > "$dir/specimen.env"
        say "wrote $dir/postgres.env and $dir/specimen.env"
    fi
    if [ -e "$dir/tls.crt" ] && [ -e "$dir/tls.key" ]; then
        say "kept $dir/tls.crt and $dir/tls.key"
    else
        openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=specimen.localtest.me" \
            -addext "subjectAltName=DNS:specimen.localtest.me" \
            -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
        say "wrote $dir/tls.crt and $dir/tls.key (self-signed, specimen.localtest.me)"
    fi
    exit 0
fi

if [ -e "$dir/specimen.env" ]; then
    say "kept $dir/specimen.env"
    exit 0
fi
missing=()
for variable in SPECIMEN_USERS_DATABASE_URL SPECIMEN_SEGMENT_DATABASE_URL SPECIMEN_CLASSIFY_DATABASE_URL; do
    [ -n "${!variable:-}" ] || missing+=("$variable")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "$0: set ${missing[*]} (postgresql+psycopg://ROLE:PASSWORD@HOST:5432/DATABASE, one" \
         "database per service) to write $dir/specimen.env" >&2
    exit 1
fi
{
    env_line admin-password "${SPECIMEN_ADMIN_PASSWORD:-$(random_secret)}"
    env_line users-database-url "$SPECIMEN_USERS_DATABASE_URL"
    env_line segment-database-url "$SPECIMEN_SEGMENT_DATABASE_URL"
    env_line classify-database-url "$SPECIMEN_CLASSIFY_DATABASE_URL"
    env_line redis-url "${SPECIMEN_REDIS_URL:-}"
} > "$dir/specimen.env"
say "wrote $dir/specimen.env (the first admin's password is its admin-password line)"
