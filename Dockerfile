# The image every pgfraud Python service runs (docker-compose.yml). It installs exactly
# the pinned set CI installs (requirements.lock), then pgfraud itself, as `make install`
# does: editable, so sql/, migrations/ and dbt/ are read from /app.
# Pinned base; a build argument only so that tests/compose/standin_images.sh can substitute
# a local stand-in on machines with no registry (`make test-compose`).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# LightGBM's OpenMP runtime (libgomp1), which the slim image lacks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.lock ./
RUN pip install --upgrade 'pip>=24' \
    && pip install --requirement requirements.lock

COPY pyproject.toml README.md ./
COPY pgfraud ./pgfraud
COPY scorer ./scorer
COPY producer ./producer
COPY sql ./sql
COPY migrations ./migrations
COPY dbt ./dbt
COPY dashboards ./dashboards
RUN pip install --no-deps --no-build-isolation --editable . \
    && useradd --system --create-home --home-dir /home/pgfraud pgfraud \
    && chown -R pgfraud /app/dbt \
    && mkdir /reports && chown pgfraud /reports   # a new `reports` volume takes this owner

USER pgfraud
ENTRYPOINT []
CMD ["pgfraud", "--help"]
