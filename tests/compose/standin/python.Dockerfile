# TEST HARNESS ONLY: a stand-in for python:3.11-slim, built from Debian's own packages
# by tests/compose/standin_images.sh when no registry is reachable. Never shipped.
ARG BASE=pgfraud-standin/debian:bookworm
FROM ${BASE}
ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# The host's extra CA certificates (if any): what lets pip reach the package index from
# inside a container on a machine whose egress is intercepted. A public certificate,
# not a secret; only in this stand-in, never in the pgfraud Dockerfile.
COPY ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null && python3 -m venv /usr/local/python
ENV PATH=/usr/local/python/bin:$PATH \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
