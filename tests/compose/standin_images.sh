#!/usr/bin/env bash
# TEST HARNESS for `make test-compose`: the base images docker-compose.yml needs.
#
# For each of the pinned python and postgres images (the defaults in Dockerfile and
# docker-compose.yml), use it if it is present or can be pulled. Only when it cannot
# (no registry reachable) build a local stand-in from Debian's own packages, named
# pgfraud-standin/…: Debian's python3 in a venv, Debian's postgresql-15 with a small
# entrypoint. A user with a registry always gets the real images.
#
# Prints the images to use as shell assignments (eval them), logs on stderr:
#   PGFRAUD_PYTHON_IMAGE=…  PGFRAUD_POSTGRES_IMAGE=…  (and PIP_INDEX_URL=… if pip has one)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
root=../..
log() { echo "standin_images: $*" >&2; }

python_image=$(sed -nE 's/^ARG PYTHON_IMAGE=(.+)$/\1/p' "$root/Dockerfile")
postgres_image=$(sed -nE 's/.*\$\{PGFRAUD_POSTGRES_IMAGE:-([^}]+)\}.*/\1/p' "$root/docker-compose.yml")
[[ -n "$python_image" && -n "$postgres_image" ]] || { log "no pinned images found"; exit 1; }
base=pgfraud-standin/debian:bookworm

available() {  # present, or pulled within a minute
  docker image inspect "$1" >/dev/null 2>&1 && return 0
  log "pulling $1"
  timeout 60 docker pull -q "$1" >/dev/null 2>&1
}

debian_mirror() {  # the mirror apt already uses on this host
  { grep -rhE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true; } \
    | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n1 | tr -d ' '
}

ensure_base() {
  docker image inspect "$base" >/dev/null 2>&1 && return 0
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap; } >&2
  local rootfs mirror
  rootfs=$(mktemp -d) mirror=$(debian_mirror)
  log "debootstrap bookworm from ${mirror:-the default mirror} (about a minute)"
  debootstrap --variant=minbase bookworm "$rootfs" ${mirror:+"$mirror"} >/dev/null
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import - "$base" >/dev/null
  rm -rf "$rootfs"
}

build_standin() {  # name, dockerfile
  local context
  context=$(mktemp -d)
  cp standin/* "$context"/
  mkdir -p "$context/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$context/ca-certificates/" 2>/dev/null || true
  log "building stand-in $1"
  DOCKER_BUILDKIT=0 docker build -q --build-arg BASE="$base" -t "$1" \
    -f "$context/$2" "$context" >/dev/null
  rm -rf "$context"
}

# The host's package index, if pip is configured with one (not PyPI): the image build
# uses it too (docker-compose.yml passes PIP_INDEX_URL as a build argument). Only an
# http(s) URL: file:// indexes and find-links on the host mean nothing in a container.
index=${PIP_INDEX_URL:-$(python3 -m pip config get global.index-url 2>/dev/null || true)}
if [[ "$index" =~ ^https?:// ]]; then echo "PIP_INDEX_URL=$index"; fi

if available "$python_image"; then
  echo "PGFRAUD_PYTHON_IMAGE=$python_image"
else
  ensure_base
  build_standin pgfraud-standin/python:3.11 python.Dockerfile
  echo "PGFRAUD_PYTHON_IMAGE=pgfraud-standin/python:3.11"
fi
if available "$postgres_image"; then
  echo "PGFRAUD_POSTGRES_IMAGE=$postgres_image"
else
  ensure_base
  build_standin pgfraud-standin/postgres:15 postgres.Dockerfile
  echo "PGFRAUD_POSTGRES_IMAGE=pgfraud-standin/postgres:15"
fi
