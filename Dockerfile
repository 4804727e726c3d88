# syntax=docker/dockerfile:1
# Threadwise image: dependencies installed from uv.lock in a build stage, run as a non-root user.

FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
# Dependencies first, so code changes reuse this layer.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY core ./core
COPY knowledge ./knowledge
COPY agent ./agent
COPY evals ./evals
COPY bot ./bot
COPY migrations ./migrations
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim-bookworm
RUN useradd --create-home --uid 10001 threadwise \
    && mkdir -p /data \
    && chown threadwise:threadwise /data
COPY --from=build --chown=threadwise:threadwise /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ENVIRONMENT=production \
    LOG_FORMAT=json \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8000 \
    APP_DATA_DIR=/data
USER 10001:10001
WORKDIR /home/threadwise
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["threadwise", "serve"]
