# wisp — the two commands a newcomer needs:
#   make dev    set up and run the whole platform locally (wisp dev on examples/)
#   make test   lint and run every test (builds or reuses a real Kubernetes control plane)

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CACHE ?= $(HOME)/.cache/wisp
K8S_VERSION ?= v1.36.3
PORT ?= 8080
ADMIN_PORT ?= 9090
PYTEST_ARGS ?=
DEBIAN_PACKAGES := etcd-server redis-server iproute2 chromium
IMAGE_TAG ?= dev
REGISTRY ?= wisp
KIND_CLUSTER ?= wisp

.PHONY: help install deps venv controlplane java dev test lint fmt unit bench fuzz crds images \
        kind-up kind-load deploy e2e-kind helm helm-install values-table clean

help:
	@echo "make dev      run wisp locally (gateway + functions from examples/) on :$(PORT)"
	@echo "make test     lint + the whole test suite (real kube-apiserver, redis, chromium)"
	@echo "make lint     ruff, mypy --strict, import contracts, CRD drift"
	@echo "make bench    benchmarks -> docs/benchmarks.md"
	@echo "make images / kind-up / kind-load / deploy / e2e-kind   the kind path (needs Docker)"

# -- setup ------------------------------------------------------------------------------------
deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v node >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm; }

$(VENV)/.installed: pyproject.toml
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

install: deps venv

controlplane:
	@bash tests/cluster/build-controlplane.sh >/dev/null

# -- run --------------------------------------------------------------------------------------
dev: install
	$(VENV)/bin/wisp dev examples --port $(PORT) --admin-port $(ADMIN_PORT)

# -- quality ----------------------------------------------------------------------------------
lint: venv
	$(VENV)/bin/ruff check operator runtime-images/python tests bench tools deploy
	$(VENV)/bin/ruff format --check operator runtime-images/python tests bench tools deploy
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict tools/sync-crds.py deploy/helm/gen-values-table.py
	$(VENV)/bin/lint-imports
	$(PY) tools/sync-crds.py --check
	$(PY) deploy/helm/gen-values-table.py --check

values-table: venv
	$(PY) deploy/helm/gen-values-table.py

fmt: venv
	$(VENV)/bin/ruff format operator runtime-images/python tests bench tools deploy
	$(VENV)/bin/ruff check --fix operator runtime-images/python tests bench tools deploy

crds: venv
	$(PY) tools/sync-crds.py

unit: venv
	$(VENV)/bin/pytest -m "not cluster and not redis and not browser and not java" $(PYTEST_ARGS)

java:
	@bash runtime-images/java/build.sh >/dev/null

test: install controlplane lint java
	mvn -B -q -f runtime-images/java verify
	$(VENV)/bin/pytest $(PYTEST_ARGS)

fuzz: venv
	WISP_FUZZ_EXAMPLES=20000 $(VENV)/bin/pytest tests/security -k fuzz $(PYTEST_ARGS)

bench: install controlplane
	$(PY) -m bench.all

# -- the kind path (needs Docker and kind; not run by make test) ---------------------------------
images:
	docker build -t $(REGISTRY)/wisp:$(IMAGE_TAG) -f deploy/Dockerfile .
	docker build -t $(REGISTRY)/runtime-python:3.12 --build-arg PYTHON_VERSION=3.12 runtime-images/python
	docker build -t $(REGISTRY)/runtime-python:3.11 --build-arg PYTHON_VERSION=3.11 runtime-images/python
	docker build -t $(REGISTRY)/runtime-node:20 --build-arg NODE_VERSION=20 runtime-images/node
	docker build -t $(REGISTRY)/runtime-node:22 --build-arg NODE_VERSION=22 runtime-images/node
	docker build -t $(REGISTRY)/runtime-java:21 --build-arg JAVA_VERSION=21 runtime-images/java
	docker build -t $(REGISTRY)/runtime-java:17 --build-arg JAVA_VERSION=17 runtime-images/java
	docker build -t $(REGISTRY)/runtime-java:21-jdk --build-arg JAVA_VERSION=21 --build-arg JAVA_IMAGE=jdk runtime-images/java
	docker build -t $(REGISTRY)/runtime-java:17-jdk --build-arg JAVA_VERSION=17 --build-arg JAVA_IMAGE=jdk runtime-images/java

kind-up:
	kind get clusters | grep -qx $(KIND_CLUSTER) || kind create cluster --name $(KIND_CLUSTER)

kind-load:
	for image in wisp:$(IMAGE_TAG) runtime-python:3.12 runtime-python:3.11 runtime-node:20 runtime-node:22 runtime-java:21 runtime-java:17 runtime-java:21-jdk runtime-java:17-jdk; do \
	  kind load docker-image --name $(KIND_CLUSTER) $(REGISTRY)/$$image; done

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
