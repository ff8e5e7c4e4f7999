# The two commands a newcomer needs: `make demo` and `make test`. Everything else is a building block.
# Tools the scripts provision live in the tool cache (outside the checkout, shared by fresh clones):
#   $(PVE_ONTAP_CACHE)/kube-<version>/bin  kube-apiserver, etcd, kubectl
#   $(PVE_ONTAP_CACHE)/helm-<version>/bin  helm
#   $(PVE_ONTAP_CACHE)/promtool-<version>/bin  promtool (checks the chart's alert rules)

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

include scripts/versions.env
export PVE_ONTAP_CACHE ?= $(HOME)/.cache/pve-ontap-controller
KUBE_BIN := $(PVE_ONTAP_CACHE)/kube-$(KUBE_VERSION)/bin
HELM_BIN := $(PVE_ONTAP_CACHE)/helm-$(HELM_VERSION)/bin
export PATH := $(KUBE_BIN):$(HELM_BIN):$(PATH)
CHART := charts/pve-ontap-controller
CARGO ?= cargo

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: demo
demo: ## Control plane + simulator + controller + examples; stays up until Ctrl-C
	@scripts/demo.sh

.PHONY: test
test: provision check-alerts check-fmt check-crds check-modules test-rust test-python test-chart ## Everything CI runs
	@echo "make test: all suites passed"

.PHONY: provision
provision: ## Build/install kube-apiserver, etcd, kubectl, helm and promtool into the tool cache (idempotent)
	@scripts/provision.sh

.PHONY: plugin
plugin: ## Build kubectl-pveontap (the kubectl plugin) and say where it is
	$(CARGO) build -q -p kubectl-pveontap $(if $(filter release,$(PLUGIN_PROFILE)),--release)
	@bin="$${CARGO_TARGET_DIR:-$(CURDIR)/target}/$(or $(PLUGIN_PROFILE),debug)"; \
	echo "kubectl-pveontap: $$bin/kubectl-pveontap"; \
	echo "use it as kubectl pveontap:  export PATH=\"$$bin:\$$PATH\"   (PLUGIN_PROFILE=release for an optimised build)"

.PHONY: plugin-krew
plugin-krew: ## Release build of the plugin as a krew archive + manifest in dist/ (kubectl krew install --manifest ... --archive ...)
	@scripts/plugin-krew.sh

.PHONY: crds
crds: ## Regenerate crds/ from the Rust types
	$(CARGO) run -q -p pve-ontap-controller --bin crdgen -- crds/

.PHONY: check-fmt
check-fmt: ## Fail if the Rust code is not formatted (cargo fmt)
	$(CARGO) fmt --all -- --check

.PHONY: check-modules
check-modules: ## Fail if modules directly under src/controller/ import each other in a circle
	@python3 scripts/check-module-cycles.py

.PHONY: check-crds
check-crds: ## Fail if crds/ differs from what the Rust types generate, or a spec/status field has no description
	$(CARGO) run -q -p pve-ontap-controller --bin crdgen -- --check crds/

.PHONY: test-rust
test-rust: ## Unit, simulator, integration and end-to-end tests (the workspace without the bench crate)
	$(CARGO) test --workspace --exclude bench --no-fail-fast
	@table="$${CARGO_TARGET_DIR:-target}/tmp/hostile-inputs.md"; \
	if [ -f "$$table" ]; then echo "hostile-input suite (tests/hostile_inputs.rs):"; cat "$$table"; fi

.PHONY: test-least-privilege
test-least-privilege: provision ## The controller suites with every harness as the README's least-privilege accounts
	PVEONTAP_TEST_ACCOUNTS=least-privilege $(CARGO) test -p pve-ontap-controller --no-fail-fast \
	  $(patsubst tests/%.rs,--test %,$(wildcard tests/controller_*.rs)) --test least_privilege --test hostile_inputs

.PHONY: test-python
test-python: ## The simulator checked with independent Python clients
	@if [ -x scripts/test-sim-python.sh ]; then scripts/test-sim-python.sh; \
	else echo "test-python: scripts/test-sim-python.sh not present, skipped"; fi

.PHONY: test-chart
test-chart: ## helm lint and helm template with default and non-default values
	helm lint --strict --kube-version $(KUBE_VERSION) $(CHART)
	helm template pve-ontap $(CHART) --kube-version $(KUBE_VERSION) --namespace pve-ontap-system >/dev/null
	helm template pve-ontap $(CHART) --kube-version $(KUBE_VERSION) --namespace pve-ontap-system \
	  --set rbac.secretNamespaces='{pve-ontap-system,backends}' --set leaderElection.enabled=false \
	  --set serviceAccount.name=custom >/dev/null
	helm template pve-ontap $(CHART) --kube-version $(KUBE_VERSION) --namespace pve-ontap-system \
	  --set metrics.prometheusRule.enabled=true --set metrics.grafanaDashboard.enabled=true >/dev/null
	@if [ -x scripts/check-chart.sh ]; then scripts/check-chart.sh; fi

.PHONY: check-alerts
check-alerts: ## promtool check and unit tests of the chart's alert rules (charts/pve-ontap-controller/tests/)
	@scripts/check-alerts.sh

.PHONY: dev-up
dev-up: ## Start control plane, simulator and controller in the background (.dev/kubeconfig, .dev/env)
	@scripts/dev-up.sh

.PHONY: dev-down
dev-down: ## Stop everything dev-up started
	@scripts/dev-down.sh

.PHONY: fmt
fmt: ## Format the Rust code
	$(CARGO) fmt --all

.PHONY: lint
lint: ## rustfmt check, clippy with warnings as errors, no import circles in src/controller/
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	python3 scripts/check-module-cycles.py

.PHONY: bench
bench: provision ## Benchmarks of the release build (not part of `make test`; BENCH_ARGS=--quick for a short run)
	@scripts/bench.sh $(BENCH_ARGS)
