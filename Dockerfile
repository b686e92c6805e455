# The image every pgfraud Python service runs (docker-compose.yml). It installs the
# runtime dependencies at the versions CI installs (requirements.lock), then pgfraud
# itself, as `make install` does: editable, so sql/, migrations/ and dbt/ are read from /app.
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
# The package index: PyPI unless the build argument names another (compose passes your
# PIP_INDEX_URL). A plain URL only: `docker history` shows build arguments, so never one
# with credentials in it.
ARG PGFRAUD_PIP_INDEX_URL=
# pgfraud's runtime dependencies (pyproject.toml) at exactly the versions CI tests
# (requirements.lock as constraints); the lock's dev tools (pytest, mypy, ruff,
# Playwright …) stay out of the image.
COPY requirements.lock pyproject.toml ./
RUN export PIP_INDEX_URL="${PGFRAUD_PIP_INDEX_URL:-https://pypi.org/simple}" \
    && pip install --upgrade 'pip>=24' \
    && python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' > /tmp/runtime.txt \
    && pip install --constraint requirements.lock --requirement /tmp/runtime.txt setuptools \
    && rm /tmp/runtime.txt

COPY README.md ./
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
