# syntax=docker/dockerfile:1
# polyarb: one image, two entry points: the engine (`polyarb run`, the default command) and the
# dashboard API (`polyarb dashboard`). Built in three stages: the web bundle (Node), the wheels,
# and a slim runtime that runs as a non-root user and holds no secret (settings come from the
# environment at run time: see docker-compose.yml and docs/deploy.md).
#
# Base images are pinned by exact tag and digest. To move to a newer one, change both, e.g.
#   docker buildx imagetools inspect python:3.11.10-slim-bookworm
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16
ARG NODE_IMAGE=node:22.14-bookworm-slim@sha256:bac8ff0b5302b06924a5e288fb4ceecef9c8bb0bb92515985d2efdc3a2447052

# --- 1. the dashboard's web bundle ---------------------------------------------------------------
FROM ${NODE_IMAGE} AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
# The build writes to ../src/polyarb/api/static (the API serves it). An empty output is an error.
RUN npm run build \
    && test -n "$(find /src/src/polyarb/api/static -type f -print -quit)"

# --- 2. wheels: polyarb and every pinned dependency -----------------------------------------------
FROM ${PYTHON_IMAGE} AS wheels
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src/ ./src/
COPY --from=web /src/src/polyarb/api/static/ ./src/polyarb/api/static/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- 3. runtime -----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 polyarb \
    && useradd --system --uid 10001 --gid polyarb --home-dir /app --shell /usr/sbin/nologin polyarb
# Offline install from the wheels stage: nothing is fetched here, no compiler in this image.
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels /wheels/polyarb-*.whl
COPY deploy/docker/healthcheck.py /usr/local/lib/polyarb/healthcheck.py
WORKDIR /app
RUN mkdir -p /app/data && chown polyarb:polyarb /app/data
# Container defaults (each can be overridden at run time): state in the volume, JSON logs, and
# the health/metrics and API ports reachable from outside the container.
ENV DATA_DIR=/app/data \
    LOG_FORMAT=json \
    HEALTH_HOST=0.0.0.0 \
    HEALTH_PORT=8080 \
    API_HOST=0.0.0.0 \
    API_PORT=8000
VOLUME ["/app/data"]
USER 10001:10001
EXPOSE 8080 8000
# /health of the engine (HEALTH_PORT) or of the dashboard API (API_PORT), whichever this runs.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/lib/polyarb/healthcheck.py"]
ENTRYPOINT ["polyarb"]
CMD ["run"]
