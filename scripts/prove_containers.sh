#!/usr/bin/env bash
# Prove that the containers run, on a machine with no Docker engine and no registry:
#
#   scripts/prove_containers.sh        (make containers-proof; about 15 minutes the first time)
#
#  1. makes the base image locally (deploy/base/make-debian-base.sh: mmdebstrap + podman
#     import, tagged as the Dockerfiles' FROM) and, when the official postgres and redis images
#     are not there, their stand-ins (deploy/postgres/local/, deploy/redis/local/), tagged as
#     docker-compose.yml's images;
#  2. builds the four service images and the classify trainer with podman;
#  3. starts podman's Docker-compatible API on a private socket and runs docker-compose.yml
#     through it (DOCKER_HOST=unix://...), with a fresh .env (scripts/compose_env.sh) and the
#     gateway on a free loopback port;
#  4. waits for the gateway's /readyz and runs the Postman collection with newman against it;
#  5. the batch side through the gateway (scripts/prove_plankton_journey.py): a plankton project,
#     a ZIP of generated frames with a metadata CSV, a run polled to succeeded, bulk validation,
#     an EcoTaxa export checked by EcoTaxa's import rules, a training on the trainer worker giving
#     a new model version, an MRI scan import; then the browser journey in Chromium
#     (scripts/prove_ui_on_stack.py: sign in, library upload, two superpixels clicked on the
#     segment workbench and compared pixel for pixel with the service's selection, models, an MRI
#     slice classified with its crop box, a project's run to 100 % and a keyboard review, a
#     technician created and deactivated on /users; each checked through the API) when a Python
#     with Playwright is at hand (SPECIMEN_UI_PYTHON, default .venv/bin/python);
#  6. creates a user, a library image with a segmentation and a scan through the API, then
#     restarts every container and finds them all again; then removes the containers (keeping
#     the volumes), starts the stack anew and finds them again;
#  7. tears everything down (containers, network, volumes, the API service).
#
# Needs podman (with netavark, which needs iptables), docker-compose (Debian's 1.29 will do),
# mmdebstrap, python3, openssl and npm; for step 5's browser part the development venv and
# Chromium (/usr/bin/chromium).
# KEEP=1 leaves the stack running at the end (docker-compose -p specimen-proof down -v ends it).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
project=specimen-proof
tag=${SPECIMEN_IMAGE_TAG:-0.1.0}
prefix=${SPECIMEN_IMAGE_PREFIX:-localhost/specimen}
started=$SECONDS

say() { printf '\n=== [%4ds] %s\n' $((SECONDS - started)) "$*"; }
fail() { echo "prove_containers: $*" >&2; exit 1; }

for tool in podman docker-compose mmdebstrap python3 openssl npm iptables; do
    command -v "$tool" >/dev/null || fail "$tool is required (README \"Deployment\" lists the packages)"
done

work=$(mktemp -d /tmp/specimen-proof.XXXXXX)
service_pid=
health_pid=
pin_pid=
compose() { docker-compose -p "$project" --project-directory "$root" -f "$root/docker-compose.yml" \
                --env-file "$work/compose.env" "$@"; }
cleanup() {
    status=$?
    if [[ $status -ne 0 && -S $work/podman.sock ]]; then
        say "FAILED: the last log lines of every container"
        compose ps || true
        compose logs --no-color --tail=40 || true
        echo "--- podman API service"; tail -n 20 "$work/podman-service.log" || true
    fi
    if [[ ${KEEP:-0} == 1 && $status -eq 0 ]]; then
        echo "KEEP=1: the stack is still running; DOCKER_HOST=unix://$work/podman.sock"
        return
    fi
    if [[ -S $work/podman.sock ]]; then
        compose down --volumes --remove-orphans >/dev/null 2>&1 || true
    fi
    [[ -n $health_pid ]] && kill "$health_pid" 2>/dev/null
    [[ -n $pin_pid ]] && kill "$pin_pid" 2>/dev/null
    [[ -n $service_pid ]] && kill "$service_pid" 2>/dev/null
    rm -rf "$work"
    exit $status
}
trap cleanup EXIT

# Machines like this one (a VM without systemd, cgroups v1 next to a cgroups v2 hierarchy,
# no CAP_SYS_RESOURCE) need two podman settings: runc, since crun refuses hybrid cgroups,
# and container limits no higher than this shell's hard limits, which podman would try to raise.
if [[ -z ${CONTAINERS_CONF:-} ]]; then
    nofile=$(ulimit -Hn) nproc=$(ulimit -Hu)
    [[ $nofile == unlimited ]] && nofile=1048576
    [[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
    {
        echo '[containers]'
        echo "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
        if [[ -d /sys/fs/cgroup/unified ]]; then
            printf '[engine]\nruntime = "runc"\n'
        fi
    } > "$work/containers.conf"
    export CONTAINERS_CONF=$work/containers.conf
fi

say "base image (docker.io/library/debian:bookworm-slim)"
deploy/base/make-debian-base.sh

postgres_image=docker.io/library/postgres:15-bookworm
build_args=(--format docker)
# A proxy that re-signs TLS: pip in the build trusts the CA bundle named by PIP_CERT.
if [[ -n ${PIP_CERT:-} ]]; then
    build_args+=(--volume "$(dirname "$PIP_CERT"):/mnt:ro" --build-arg "PIP_CERT=/mnt/$(basename "$PIP_CERT")")
fi
# build NAME ARGS...: podman build, its output in $work/build-NAME.log, the end of it on failure.
build() {
    local name=$1
    shift
    if ! podman build "${build_args[@]}" "$@" . > "$work/build-$name.log" 2>&1; then
        tail -n 40 "$work/build-$name.log"
        fail "building $name failed"
    fi
    tail -n 1 "$work/build-$name.log"
}
if ! podman image exists "$postgres_image"; then
    say "PostgreSQL stand-in tagged $postgres_image (deploy/postgres/local/)"
    build postgres -f deploy/postgres/local/Dockerfile -t "$postgres_image"
fi

redis_image=docker.io/library/redis:7-bookworm
if ! podman image exists "$redis_image"; then
    say "Redis stand-in tagged $redis_image (deploy/redis/local/)"
    build redis -f deploy/redis/local/Dockerfile -t "$redis_image"
fi

for image in users segment classify gateway; do
    say "image $prefix/$image:$tag"
    build "$image" -f "services/$image/Dockerfile" -t "$prefix/$image:$tag"
done
say "image $prefix/classify-trainer:$tag"
build classify-trainer -f services/classify/Dockerfile --target trainer -t "$prefix/classify-trainer:$tag"

say "image sizes"
podman image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' \
    | grep -E "^($prefix/|$postgres_image|$redis_image)" | sort

say "podman API on $work/podman.sock"
podman system service --time=0 "unix://$work/podman.sock" > "$work/podman-service.log" 2>&1 &
service_pid=$!
for _ in $(seq 50); do [[ -S $work/podman.sock ]] && break; sleep 0.2; done
[[ -S $work/podman.sock ]] || fail "podman system service did not start"
export DOCKER_HOST=unix://$work/podman.sock

# Without systemd podman does not schedule HEALTHCHECKs (it runs them from systemd timers), and
# docker-compose's service_healthy conditions would wait forever: run them here instead.
if [[ ! -d /run/systemd/system ]]; then
    while true; do
        for id in $(podman ps --quiet --filter "label=com.docker.compose.project=$project"); do
            podman healthcheck run "$id" >/dev/null 2>&1 || true
        done
        sleep 3
    done &
    health_pid=$!
fi

# netavark before 1.9 (Debian 12 has 1.4) lets a network's bridge take the lowest MAC address of
# its ports, so the bridge's MAC changes as containers come and go, and the containers' cached
# ARP entry for the bridge address (their DNS server) goes stale: name lookups hang for seconds
# (containers/netavark#833). Pin each bridge of the project to its MAC, as later netavark does
# itself (there this finds every bridge pinned already).
while true; do
    bridges=$(podman network ls --filter "label=com.docker.compose.project=$project" \
                  --format '{{.NetworkInterface}}' 2>/dev/null) || bridges=
    for _ in 1 2 3 4 5; do
        for bridge in $bridges; do
            if [[ -e /sys/class/net/$bridge && $(cat "/sys/class/net/$bridge/addr_assign_type") != 3 ]]; then
                ip link set dev "$bridge" address "$(cat "/sys/class/net/$bridge/address")" || true
            fi
        done
        sleep 0.2
    done
done &
pin_pid=$!

# compose up, once more when it fails: a one-shot job that meets netavark's stale-ARP name lookup
# (above) before its bridge is pinned exits 1 with "Temporary failure in name resolution" and
# fails the whole `up`; the second `up` starts only what is not running (the migrations run again,
# a no-op). Said aloud, so that a real failure (it fails twice) is not hidden.
compose_up() {
    if ! compose up --detach --no-build; then
        echo "prove_containers: docker-compose up failed once; trying again (see the logs above)" >&2
        sleep 5
        compose up --detach --no-build
    fi
}

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base_url=http://127.0.0.1:$port
scripts/compose_env.sh "$work/compose.env" >/dev/null
export SPECIMEN_GATEWAY_PUBLISH=127.0.0.1:$port SPECIMEN_IMAGE_TAG=$tag SPECIMEN_IMAGE_PREFIX=$prefix
admin_password=$(sed -n 's/^SPECIMEN_ADMIN_PASSWORD=//p' "$work/compose.env")

say "docker-compose up (migrations, default models: minutes on the first start)"
compose config -q
compose_up
# The first start trains the default models: about 4 minutes on 2 idle cores, far more on a
# busy machine (PROOF_READY_TIMEOUT, seconds).
python3 scripts/prove_containers.py wait "$base_url" --timeout "${PROOF_READY_TIMEOUT:-1200}"
compose ps

say "Postman collection (newman) against $base_url"
if [[ ! -x postman/node_modules/.bin/newman ]]; then
    (cd postman && npm ci --no-audit --no-fund --loglevel=error)
fi
postman/node_modules/.bin/newman run postman/specimen.postman_collection.json \
    --environment postman/specimen.postman_environment.json \
    --env-var "baseUrl=$base_url" --env-var "adminPassword=$admin_password" \
    --bail --color off --disable-unicode --reporters cli

say "the batch side through the gateway: plankton project, run, review, export, training, scan import"
# Generated frames and MRI slices, from the classify image's own generators.
mkdir -p "$work/frames" "$work/mri"
podman run --rm --no-healthcheck --read-only --tmpfs /tmp "$prefix/classify:$tag" sh -c \
    'python -m specimen_classify generate plankton /tmp/p --frames 6 --seed 3 >/dev/null 2>&1 &&
     tar -C /tmp/p/frames -c .' | tar -C "$work/frames" -x
podman run --rm --no-healthcheck --read-only --tmpfs /tmp "$prefix/classify:$tag" sh -c \
    'python -m specimen_classify generate mri /tmp/m --count 2 --seed 7 >/dev/null 2>&1 &&
     tar -C /tmp/m -c yes no' | tar -C "$work/mri" -x
# The export is checked by the classify image's EcoTaxa import rules (the ZIP on its stdin).
python3 scripts/prove_plankton_journey.py "$base_url" --frames "$work/frames" --mri "$work/mri" \
    --password "$admin_password" --json "$work/journey.json" \
    --checker-command "podman run --rm -i --no-healthcheck --read-only --tmpfs /tmp $prefix/classify:$tag"

ui_python=${SPECIMEN_UI_PYTHON:-$root/.venv/bin/python}
if [[ -x $ui_python ]] && "$ui_python" -c 'import playwright' 2>/dev/null && [[ -x /usr/bin/chromium ]]; then
    say "the web UI in Chromium against $base_url"
    python3 - "$work/frames" "$work/ui-frames.zip" <<'PY'
import sys, zipfile
from pathlib import Path
with zipfile.ZipFile(sys.argv[2], "w") as archive:
    for path in sorted(Path(sys.argv[1]).glob("*.png"))[:2]:
        archive.write(path, path.name)
PY
    # An MRI slice from the classify image's generator too (the one the scan import used).
    "$ui_python" scripts/prove_ui_on_stack.py "$base_url" --frames-zip "$work/ui-frames.zip" \
        --mri-slice "$(ls "$work"/mri/yes/*.png | head -n 1)" --password "$admin_password"
else
    say "the web UI: SKIPPED (no Python with Playwright at $ui_python, or no /usr/bin/chromium)"
fi

say "data through the API before the restarts"
# Two synthetic slices from the classify image's own generator (a tumor one for the scan).
podman run --rm --no-healthcheck --read-only --tmpfs /tmp "$prefix/classify:$tag" sh -c \
    'python -m specimen_classify generate mri /tmp/mri --count 1 --seed 7 >/dev/null 2>&1 &&
     cat "$(ls /tmp/mri/yes/*.png | head -n 1)"' > "$work/tumor.png"
podman run --rm --no-healthcheck --read-only --tmpfs /tmp "$prefix/classify:$tag" sh -c \
    'python -m specimen_classify generate mri /tmp/mri --count 1 --seed 8 >/dev/null 2>&1 &&
     cat "$(ls /tmp/mri/no/*.png | head -n 1)"' > "$work/healthy.png"
python3 scripts/prove_containers.py seed "$base_url" "$work/state.json" --env-file "$work/compose.env" \
    --mri-slice "$work/tumor.png" --image "$work/healthy.png"

say "restart every container"
compose restart
python3 scripts/prove_containers.py wait "$base_url" --timeout 300
python3 scripts/prove_containers.py check "$base_url" "$work/state.json" --env-file "$work/compose.env"

say "remove every container (the volumes stay) and start the stack again"
compose down
compose_up
python3 scripts/prove_containers.py wait "$base_url" --timeout 300
compose ps
python3 scripts/prove_containers.py check "$base_url" "$work/state.json" --env-file "$work/compose.env"

say "containers proof passed in $((SECONDS - started)) s"
