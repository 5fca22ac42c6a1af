# coursebot image: one image, one entry point (`coursebot`), the command picks the role:
#   docker run IMAGE migrate | runner | panel | up
# There is no default command on purpose: a runner, a panel and a one-shot migration are
# different jobs, and a container that silently became the wrong one is worse than one that
# prints the usage and stops. See docs/deploy.md.
#
# No HEALTHCHECK either: the runner answers /health on COURSEBOT_RUNNER_PORT, the panel on
# COURSEBOT_PORT and `migrate` not at all, so compose.yaml and deploy/k8s/ probe each role.

ARG PYTHON_VERSION=3.11

# --- builder: a virtualenv with the dependencies and the project -------------------------
# The full image has a compiler for any dependency that ships no wheel for this platform.
FROM python:${PYTHON_VERSION}-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app

# Dependencies first, from pyproject.toml alone: a change to the code reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

# The project itself, installed in place (editable): `coursebot migrate` reads alembic.ini
# and alembic/ beside storage/ (storage/migrate.py), which a wheel does not carry. The
# runtime stage copies /app to the same path, so the console script finds it there.
COPY . .
RUN pip install --no-deps -e . \
 && python -m compileall -q /app \
 && coursebot --help > /dev/null

# --- runtime: slim, no compiler, not root ------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
# tini as PID 1 forwards SIGTERM to coursebot (which hands its bot leases back at once) and
# reaps the course worker processes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 coursebot \
 && useradd --system --uid 10001 --gid coursebot --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin coursebot
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
WORKDIR /app
# Code and venv stay root-owned and read-only to the process. In a container PostgreSQL and
# Redis are always external (DATABASE_URL / REDIS_URL), and COURSEBOT_PRODUCTION=1 refuses to
# start without COURSEBOT_SECRET_KEY: a development key written inside a container would be
# lost with it, and every stored bot token with it. The panel listens on every interface of
# the container; the runner serves /health and /metrics on its own port.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    COURSEBOT_PRODUCTION=1 \
    COURSEBOT_DATA_DIR=/tmp/coursebot \
    COURSEBOT_HOST=0.0.0.0 \
    COURSEBOT_PORT=8000 \
    COURSEBOT_RUNNER_PORT=8081
USER 10001:10001
EXPOSE 8000 8081
ENTRYPOINT ["/usr/bin/tini", "--", "coursebot"]
