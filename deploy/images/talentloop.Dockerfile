# The TalentLoop services, the console and the `talentloop` tool: one image, the command
# picks what runs (deploy/docker-compose.yml). Build context: the repository's tracked files
# (deploy/images/build.py sends them; `make images`).
# BASE: the debootstrapped Debian bookworm `make images` makes, or any Debian bookworm image
# (the official one by default: docker build --build-arg BASE=debian:bookworm-slim ...).
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS python
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 tzdata \
    && rm -rf /var/lib/apt/lists/*

FROM python AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/talentloop
# Dependencies in their own layer, exactly the lock files' (versions and hashes; wheels only,
# no compiler), from the wheels in the context (deploy/images/build.py downloaded them with
# this machine's pip; no index is reached): rebuilt only when requirements/ changes. pip and
# setuptools first, from requirements/bootstrap.txt, in place of those Debian's venv bundles.
COPY requirements/bootstrap.txt requirements/runtime.txt /tmp/
COPY wheels/ /tmp/wheels/
RUN /opt/talentloop/bin/python -m pip install -q --no-cache-dir --no-index --find-links /tmp/wheels --no-deps \
        --require-hashes --only-binary=:all: -r /tmp/bootstrap.txt \
    && /opt/talentloop/bin/python -m pip install -q --no-cache-dir --no-index --find-links /tmp/wheels --no-deps \
        --require-hashes --only-binary=:all: -r /tmp/runtime.txt
# The project runs from its source tree (as `make install`'s editable install does), so no
# build backend is fetched unpinned; `talentloop` is the CLI's entry point.
RUN printf '#!/opt/talentloop/bin/python\nfrom talentloop.cli import app\napp()\n' > /opt/talentloop/bin/talentloop \
    && chmod 0755 /opt/talentloop/bin/talentloop

FROM python
COPY --from=build /opt/talentloop /opt/talentloop
COPY pyproject.toml README.md LICENSE /app/
COPY contracts /app/contracts
COPY plumbing /app/plumbing
COPY services /app/services
COPY talentloop /app/talentloop
COPY deploy /app/deploy
RUN useradd --uid 10001 --home-dir /home/talentloop --create-home talentloop \
    && mkdir -p /var/lib/talentloop && chown talentloop /var/lib/talentloop \
    && /opt/talentloop/bin/python -m compileall -q /app
ENV PATH=/opt/talentloop/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TALENTLOOP_HOME=/var/lib/talentloop \
    TALENTLOOP_HTTP_HOST=0.0.0.0
WORKDIR /app
USER talentloop
# Every service answers GET /health on TALENTLOOP_HTTP_PORT (set it for each container: the
# compose file does); stdlib only, so a check costs a few milliseconds of CPU.
HEALTHCHECK --interval=5s --timeout=5s --start-period=10s --retries=12 \
    CMD ["python3", "/app/deploy/images/healthcheck.py"]
CMD ["python", "-m", "services.intake.main"]
