#!/usr/bin/env bash
# Make the base image the Dockerfiles start FROM, locally, for machines that cannot pull it.
#
#   deploy/base/make-debian-base.sh [TAG]     (default docker.io/library/debian:bookworm-slim)
#
# An operator with a registry never needs this: `docker build` / `podman build` pull the
# official debian:bookworm-slim. Here we make what the official image is (Debian 12 minbase,
# merged /usr, without man pages, docs and translations, with the apt settings of
# debuerreotype that drop package caches after every install: rootfs/ next to this script)
# with mmdebstrap from the Debian mirror, and import it under the official name so that the
# Dockerfiles stay exactly what an operator builds. Needs mmdebstrap and podman, and root or
# working user namespaces; takes about a minute. REBUILD_BASE=1 replaces an existing image.
set -euo pipefail

TAG=${1:-docker.io/library/debian:bookworm-slim}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
here=$(cd "$(dirname "$0")" && pwd)

if podman image exists "$TAG" && [[ ${REBUILD_BASE:-0} != 1 ]]; then
    echo "base image $TAG exists (REBUILD_BASE=1 makes it again)"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The dpkg excludes stay in the image (/etc/dpkg/dpkg.cfg.d/99mmdebstrap), so packages that
# the Dockerfiles install are slimmed the same way. A hook's "$1" is the new root (mmdebstrap's).
# shellcheck disable=SC2016
mmdebstrap --variant=minbase --mode="${MMDEBSTRAP_MODE:-auto}" --format=tar --quiet \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook="sync-in '$here/rootfs' /" \
    --customize-hook='rm -f "$1/etc/hostname" "$1/etc/resolv.conf" "$1"/var/cache/apt/*.bin' \
    bookworm "$work/rootfs.tar" \
    "deb $MIRROR bookworm main" \
    "deb $MIRROR bookworm-updates main" \
    "deb $SECURITY_MIRROR bookworm-security main"

podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --message "Debian 12 minbase made by deploy/base/make-debian-base.sh" \
    "$work/rootfs.tar" "$TAG"
podman image ls "$TAG"
