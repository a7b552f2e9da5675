# wisp — the two commands a newcomer needs:
#   make dev    set up and run the whole platform locally (wisp dev on examples/)
#   make test   lint and run every test (builds or reuses a real Kubernetes control plane)

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CACHE ?= $(HOME)/.cache/wisp
# uv installs the Python dependencies exactly as uv.lock records them (README: Dependencies).
# It comes from PyPI with pinned hashes (tools/uv.txt), once per version, into the cache.
UV_VERSION := $(shell sed -n 's/^uv==\([0-9.]*\).*/\1/p' tools/uv.txt)
UV_DIR ?= $(CACHE)/uv/$(UV_VERSION)
UV := $(UV_DIR)/bin/uv
# The venv is .venv (or $(VENV)), made with $(PYTHON); uv never downloads an interpreter.
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON_DOWNLOADS := never
K8S_VERSION ?= v1.36.3
PORT ?= 8080
ADMIN_PORT ?= 9090
PYTEST_ARGS ?=
DEBIAN_PACKAGES := etcd-server redis-server iproute2 chromium
# The real test node (tests/node/) and the image builds without docker (tools/build-images.sh).
NODE_PACKAGES := runc containernetworking-plugins buildah mmdebstrap iptables nftables ipset gcc patchelf
# The benchmarks' peers and second opinion: nginx (the floor of a proxy hop) and wrk.
BENCH_PACKAGES := nginx-light wrk
IMAGE_TAG ?= dev
REGISTRY ?= wisp
KIND_CLUSTER ?= wisp

.PHONY: help install deps venv uv requirements deps-upgrade controlplane node java dev test lint fmt unit \
        bench bench-deps bench-scale bench-wakeups fuzz crds images kind-up kind-load deploy e2e-kind helm helm-install values-table clean

help:
	@echo "make dev      run wisp locally (gateway + functions from examples/) on :$(PORT)"
	@echo "make test     lint + the whole test suite (real kube-apiserver, redis, chromium)"
	@echo "make lint     ruff, mypy --strict, import contracts, CRD drift"
	@echo "make bench    benchmarks -> docs/benchmarks.md"
	@echo "make bench-scale  idle cost of 100 / 1,000 / 3,000 / 10,000 Functions -> docs/benchmarks.md (SCALE_ARGS=--counts=...)"
	@echo "make bench-wakeups  1,000 wake-ups a minute across Functions, kwok's fake pods -> docs/benchmarks.md (WAKEUP_ARGS=...)"
	@echo "make deps-upgrade   move uv.lock to the newest versions, then the whole suite"
	@echo "make images   wisp's images (docker, else buildah on Debian-made bases)"
	@echo "make node     the real test node's binaries and images, built once and cached"
	@echo "make kind-up / kind-load / deploy / e2e-kind   the kind path (needs Docker)"

# -- setup ------------------------------------------------------------------------------------
deps:
	@missing=""; for p in $(DEBIAN_PACKAGES) $(NODE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v node >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm; }

$(UV): tools/uv.txt
	@echo "installing uv $(UV_VERSION) (tools/uv.txt, hash-checked) into $(UV_DIR)"
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT \
	  && $(PYTHON) -m venv "$$tmp/venv" \
	  && "$$tmp/venv/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps -r tools/uv.txt \
	  && mkdir -p $(@D) && cp "$$tmp/venv/bin/uv" $@.partial.$$$$ && mv -f $@.partial.$$$$ $@

uv: $(UV)

# Exactly uv.lock, nothing else (uv sync removes what the lock does not name). The build backend
# comes from the lock first, so the editable install of wisp builds with no unpinned fetch.
$(VENV)/.installed: pyproject.toml uv.lock runtime-images/python/pyproject.toml | $(UV)
	@[ -x $(PY) ] || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	$(UV) sync --frozen --inexact --only-group build --quiet
	$(UV) sync --frozen --extra dev --group build --quiet
	@touch $@

venv: $(VENV)/.installed

# The images' hashed requirement files, exported from uv.lock (tools/export-requirements.py).
requirements: $(UV)
	$(UV) lock --quiet
	$(PYTHON) tools/export-requirements.py --uv $(UV)
	$(PYTHON) tools/image-versions.py

# Upgrades are deliberate: the newest versions the bounds in pyproject.toml and the hold-backs
# in its [tool.uv] constraint-dependencies allow, then the whole suite on them.
deps-upgrade: $(UV)
	$(UV) lock --upgrade
	$(PYTHON) tools/export-requirements.py --uv $(UV)
	$(PYTHON) tools/image-versions.py
	$(MAKE) test

install: deps venv

controlplane:
	@bash tests/cluster/build-controlplane.sh >/dev/null

# The real node of tests/node/: kubelet, kube-scheduler, kube-proxy, containerd 2, crictl, CoreDNS
# (built once into $(CACHE)/node/), its NetworkPolicy engine (kube-router, into $(CACHE)/netpol/),
# and the images as OCI archives for its containerd.
# The archives go where tests/node/node.py looks for this checkout's (one directory per checkout).
NODE_IMAGES_OUT = $(CACHE)/images/oci-$(shell printf %s "$(CURDIR)" | sha256sum | cut -c1-12)
node: controlplane venv
	@bash tests/node/build-node.sh >/dev/null
	@bash tests/node/build-netpol.sh >/dev/null
	@WISP_IMAGES_OUT=$(NODE_IMAGES_OUT) WISP_IMAGE_BUILDER=buildah WISP_BASES=debian bash tools/build-images.sh >/dev/null

# -- run --------------------------------------------------------------------------------------
dev: install
	$(VENV)/bin/wisp dev examples --port $(PORT) --admin-port $(ADMIN_PORT)

# -- quality ----------------------------------------------------------------------------------
lint: venv
	$(UV) lock --check --offline --quiet
	$(PY) tools/export-requirements.py --uv $(UV) --check
	$(PY) tools/image-versions.py --check
	$(VENV)/bin/ruff check operator runtime-images/python runtime-images/provided tests bench tools deploy
	$(VENV)/bin/ruff format --check operator runtime-images/python runtime-images/provided tests bench tools deploy
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict tools/sync-crds.py tools/export-requirements.py tools/image-wheels.py tools/image-versions.py \
	  tools/gen-runtime-policy.py deploy/helm/gen-values-table.py
	$(VENV)/bin/lint-imports
	$(PY) tools/sync-crds.py --check
	$(PY) tools/gen-runtime-policy.py --check
	$(PY) deploy/helm/gen-values-table.py --check

values-table: venv
	$(PY) deploy/helm/gen-values-table.py

fmt: venv
	$(VENV)/bin/ruff format operator runtime-images/python runtime-images/provided tests bench tools deploy
	$(VENV)/bin/ruff check --fix operator runtime-images/python runtime-images/provided tests bench tools deploy

crds: venv
	$(PY) tools/sync-crds.py

unit: venv
	$(VENV)/bin/pytest -m "not cluster and not node and not redis and not nats and not registry and not browser and not java" $(PYTEST_ARGS)

java:
	@bash runtime-images/java/build.sh >/dev/null

test: install controlplane node lint java
	mvn -B -q -f runtime-images/java verify
	$(VENV)/bin/pytest --durations=25 $(PYTEST_ARGS)

fuzz: venv
	WISP_FUZZ_EXAMPLES=20000 $(VENV)/bin/pytest tests/security -k fuzz $(PYTEST_ARGS)

bench-deps:
	@$(MAKE) --no-print-directory deps DEBIAN_PACKAGES="$(DEBIAN_PACKAGES) $(BENCH_PACKAGES)"

bench: install bench-deps controlplane node
	$(PY) -m bench.all

bench-scale: install controlplane
	$(PY) -m bench.scale $(SCALE_ARGS)

# kwok and etcd 3.6 are built from the Go module proxy (cached); a local route makes the fake
# pods' addresses this host's (root, as the real node needs).
bench-wakeups: install controlplane
	$(PY) -m bench.wakeups $(WAKEUP_ARGS)

# -- images and the kind path (kind needs Docker; not run by make test) ------------------------
# Every image from the project's Dockerfiles: docker when its daemon answers (official bases),
# buildah otherwise (bases made from Debian packages, OCI archives in $(CACHE)/images/oci/).
images:
	REGISTRY=$(REGISTRY) IMAGE_TAG=$(IMAGE_TAG) bash tools/build-images.sh

kind-up:
	kind get clusters | grep -qx $(KIND_CLUSTER) || kind create cluster --name $(KIND_CLUSTER)

kind-load:
	tags() { PYTHONPATH=operator $(PY) -c 'import sys; from wisp.api.runtimes import image_tags; print(*image_tags(sys.argv[1]))' $$1; }; \
	images="wisp:$(IMAGE_TAG) $$(for v in $$(tags python); do echo runtime-python:$$v; done) runtime-provided:latest \
	  $$(for v in $$(tags node); do echo runtime-node:$$v; done) \
	  $$(for v in $$(tags java); do echo runtime-java:$$v runtime-java:$$v-jdk; done)"; \
	for image in $$images; do kind load docker-image --name $(KIND_CLUSTER) $(REGISTRY)/$$image; done

deploy:
	$$(bash tools/install-helm.sh 3) upgrade --install wisp deploy/helm/wisp --namespace wisp-system --create-namespace \
	  --set image.repository=$(REGISTRY)/wisp --set image.tag=$(IMAGE_TAG) \
	  --set 'runtimeImages.python=$(REGISTRY)/runtime-python:{version}' \
	  --set 'runtimeImages.node=$(REGISTRY)/runtime-node:{version}' \
	  --set 'runtimeImages.java=$(REGISTRY)/runtime-java:{version}' \
	  --set 'runtimeImages.javaJdk=$(REGISTRY)/runtime-java:{version}-jdk'

e2e-kind: kind-up images kind-load deploy
	kubectl -n wisp-system rollout status deploy/wisp-gateway --timeout=180s
	kubectl apply -f examples/hello.yaml
	kubectl wait --for=condition=Ready function/hello --timeout=120s
	kubectl -n wisp-system port-forward svc/wisp-gateway 8080:8080 >/dev/null & pf=$$!; sleep 2; \
	  curl -sf -d '{"name":"kind"}' http://127.0.0.1:8080/function/hello; rc=$$?; kill $$pf; exit $$rc

helm helm-install:
	@bash tools/install-helm.sh $${HELM_MAJOR:-3}

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
