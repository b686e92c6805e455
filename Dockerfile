# The image every pgfraud Python service runs (docker-compose.yml). It installs exactly
# the pinned set CI installs (requirements.lock), then pgfraud itself, as `make install`
# does: editable, so sql/, migrations/ and dbt/ are read from /app.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

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
    && chown -R pgfraud /app/dbt

USER pgfraud
ENTRYPOINT []
CMD ["pgfraud", "--help"]
