# Real containers for the tests: podman (runtime runc) and a Debian bookworm + Python 3.11
# base image built locally from the Debian mirror this machine already uses (no public image
# registry is reachable from our machines). Sourced by scripts/test after services.sh;
# `setup_containers` is idempotent: the first run takes about a minute, later ones nothing.
#
# Exports:
#   CONTAINERS_CONF           podman's and buildah's settings for these machines (see below)
#   PLINTH_TEST_BASE_IMAGE    the local base image (localhost/python:3.11-bookworm)
#   PLINTH_TEST_REGISTRY      a local OCI registry (the `docker-registry` package, plain
#                             HTTP) on a free port, `127.0.0.1:PORT`; stopped by stop_services
#
# Why the settings: on our machines the kernel refuses setrlimit inside containers (so no
# default ulimits) and the cgroup layout is hybrid (so runc with cgroupfs, not crun).

CONTAINERS_STATE="${PLINTH_CONTAINERS_STATE:-/var/tmp/plinth-containers}"

setup_containers() {
    local image="${PLINTH_TEST_BASE_IMAGE:-localhost/python:3.11-bookworm}"
    mkdir -p "$CONTAINERS_STATE"
    local missing=""
    for program in podman buildah runc debootstrap docker-registry; do
        command -v "$program" >/dev/null 2>&1 || missing=1
    done
    [ -z "$missing" ] || apt_install podman buildah runc debootstrap docker-registry

    cat >"$CONTAINERS_STATE/containers.conf" <<CONF
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
CONF
    export CONTAINERS_CONF="$CONTAINERS_STATE/containers.conf"

    if ! podman image exists "$image" 2>/dev/null; then
        local mirror root
        mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
        [ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
        [ -n "$mirror" ] || die "no Debian mirror found in /etc/apt to build the base image from"
        say "building the base image $image from $mirror (debootstrap, about a minute)"
        root=$(mktemp -d)
        debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
            bookworm "$root" "$mirror" >"$CONTAINERS_STATE/debootstrap.log" 2>&1 \
            || { rm -rf "$root"; tail -n 20 "$CONTAINERS_STATE/debootstrap.log" >&2; die "debootstrap failed"; }
        # The host's CA bundle, so that pip inside reaches the package index as the host does.
        cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
        tar -C "$root" -c . | podman import --change 'CMD ["python3"]' - "$image" >/dev/null \
            || { rm -rf "$root"; die "podman import of the base image failed"; }
        rm -rf "$root"
    fi
    podman run --rm --network none "$image" python3 -c 'pass' \
        || die "podman cannot run the base image $image"
    export PLINTH_TEST_BASE_IMAGE="$image"
    start_registry
}

# A throwaway OCI registry on a free port, its storage in the services folder: the image
# builds of environments push to it and the tests pull from it.
start_registry() {
    local port; port=$(free_port)
    mkdir -p "$SERVICES_DIR/registry"
    cat >"$SERVICES_DIR/registry.yml" <<REG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $SERVICES_DIR/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
REG
    docker-registry serve "$SERVICES_DIR/registry.yml" >"$SERVICES_DIR/registry.log" 2>&1 &
    SERVICE_PIDS+=($!)
    wait_for "python3 -c 'import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:$port/v2/\")'" 30 \
        || { tail -n 20 "$SERVICES_DIR/registry.log" >&2; die "the registry did not start"; }
    export PLINTH_TEST_REGISTRY="127.0.0.1:$port"
}
