# Shipmate. `make run` starts the bot on the embedded defaults; `make test`
# installs what the tests need and runs every test.

GO ?= go
FUZZTIME ?= 20s

.PHONY: run test deps check-format vet unit kube fuzz bench bench-load soak stress

run:
	$(GO) run ./cmd/bot

test: deps check-format vet unit kube fuzz

# The browser tests drive Debian's Chromium (headless, through chromedp); the
# etcd store's tests start Debian's etcd (/usr/bin/etcd) on loopback ports;
# the analysis's tests start Debian's Prometheus (/usr/bin/prometheus), whose
# package also brings promtool for the alerting rules; systemd-analyze checks
# the systemd unit.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
deps:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium from Debian's packages"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }
	@command -v etcd >/dev/null 2>&1 || { \
		echo "installing etcd-server from Debian's packages (the etcd store's tests)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq etcd-server; }
	@test -x /usr/bin/prometheus || { \
		echo "installing prometheus from Debian's packages (the analysis's tests, promtool)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus; }
	@command -v systemd-analyze >/dev/null 2>&1 || { \
		echo "installing systemd from Debian's packages (systemd-analyze checks deploy/shipmate.service)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends systemd; }
	$(GO) mod download
	cd test/kube && $(GO) mod download

check-format:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

# The Kubernetes executor against a real kube-apiserver, etcd and the
# Deployment/ReplicaSet controllers, in-process: a nested module, so that
# k8s.io/kubernetes stays out of the bot's own dependencies. A cold build
# takes several minutes.
kube:
	cd test/kube && $(GO) vet ./... && $(GO) test -count=1 -timeout 20m ./...

# A short run of the chat grammar's fuzz target on every test run; run it
# longer with `make fuzz FUZZTIME=1m`.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/commands/

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/store/ ./internal/store/etcd/ ./internal/runbook/
	$(GO) test -run '^$$' -bench . -benchtime 1000x ./test/
	cd test/kube && $(GO) test -run '^$$' -bench . -benchtime 1x ./...

# The built bot under closed-loop load of signed Slack slash commands, beside
# a bare Go handler: req/s, p50/p99, RSS, spawn → first 200 with 0 and 100,000
# runs, the live heap (after GC) per run waiting for approval, targets met.
# `make bench-load LOADGEN_FLAGS="-conns 1,50 -duration 20s"` to change it.
LOADGEN_FLAGS ?=
bench-load:
	$(GO) run ./bench/cmd/loadgen $(LOADGEN_FLAGS)

# A few minutes of deployments through the built bot while it is killed
# with SIGKILL and restarted, Discord answers 429s and 500s and slow
# clients trickle requests; then checks that nothing was lost or done
# twice. Not part of `make test`; `make soak SOAK_TIME=10m` runs longer.
SOAK_TIME ?= 3m
soak:
	SOAK_TIME=$(SOAK_TIME) $(GO) test -tags soak -run '^TestSoak$$' -v -count=1 -timeout 30m ./test/

# Every test under -race with a CPU hog on every core, to shake out
# timing assumptions; the hogs stop however the tests end.
stress:
	@n=$$(nproc); pids=""; for i in $$(seq $$n); do (while :; do :; done) & pids="$$pids $$!"; done; \
	trap 'kill $$pids 2>/dev/null' EXIT; trap 'exit 130' INT TERM; $(GO) test -race -count=1 ./... && cd test/kube && $(GO) test -count=1 -timeout 30m ./...
