# syntax=docker/dockerfile:1
# Build stage: resolve the locked dependencies into a virtualenv with a pinned uv.
FROM python:3.11-slim AS build
ARG UV_VERSION=0.13.9
ENV UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# Runtime stage: the virtualenv and the code, as a non-root user.
FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 hairtryon
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY alembic.ini run.py ./
COPY alembic ./alembic
COPY app ./app
# The volumes mount here (uploads, local mail): created owned by the app's user, so a fresh
# named volume inherits the ownership and the non-root process can write to it.
RUN mkdir -p /app/var/media /app/var/mail && chown -R hairtryon:hairtryon /app/var
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 HOST=0.0.0.0 PORT=8000 WEB_CONCURRENCY=2 \
    MEDIA_DIR=/app/var/media MAIL_DIR=/app/var/mail
USER hairtryon
EXPOSE 8000
# No HEALTHCHECK here: the same image runs the worker, which serves no HTTP. docker-compose.yml
# gives each service its own (the API: GET /ready; the worker: python -m app.jobs.healthcheck).
# run.py applies migrations, then starts uvicorn with WEB_CONCURRENCY processes. Operator
# commands: python -m app.core.migrations | app.jobs | app.users.admin_cli EMAIL |
# app.payments.reconcile | app.files.retention
CMD ["python", "run.py"]
