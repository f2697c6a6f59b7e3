# syntax=docker/dockerfile:1
# Build stage: resolve the locked dependencies into a virtualenv with uv.
FROM python:3.11-slim AS build
ENV UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv
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
RUN mkdir -p /app/var && chown -R hairtryon:hairtryon /app/var
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 HOST=0.0.0.0 PORT=8000
USER hairtryon
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/health')"
# run.py applies migrations, then starts uvicorn.
CMD ["python", "run.py", "--workers", "2"]
