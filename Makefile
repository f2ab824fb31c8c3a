# crmplan's build. `make demo` and `make test` install what they need on a
# fresh Debian machine by themselves (Debian packages, the Pulumi CLI built
# from source); nothing is cached outside the repository.

SHELL := /bin/bash
export GONOSUMDB := github.com/ansible/receptor

PULUMI_VERSION := v3.250.0
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
BIN := $(CURDIR)/bin
APT_PACKAGES := postgresql-15 chromium fonts-dejavu-core memcached openssh-server redis-server nftables

.PHONY: all build test test-short bench bench-stack bench-fullscale bench-ssh model-accuracy demo demo-destroy deps clean fuzz ui ui-check

all: build

# deps installs the Debian packages the tests and the local target use.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: bin/crmplan bin/crmplan-host bin/crm bin/pulumi bin/receptor

# bin/pulumi builds the Pulumi CLI from go.mod's tool line, only when missing
# (about 8 min cold). Without the version stamp the Automation API refuses destroy.
bin/pulumi:
	go build -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$(PULUMI_VERSION)" -o $(BIN)/pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

# bin/receptor is the Receptor node every host's agent and the controller run
# (go.mod's tool line; no cmd/receptor exists, receptor-cl is the binary).
bin/receptor:
	go build -o $(BIN)/receptor github.com/ansible/receptor/cmd/receptor-cl

bin/crmplan: FORCE
	go build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/crmplan ./cmd/crmplan

# bin/crmplan-host is what runs on the hosts (the mesh agent, supervisors,
# the failover watchdog): crmplan apply finds it next to bin/crmplan.
bin/crmplan-host: FORCE
	go build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/crmplan-host ./cmd/crmplan-host

# bin/crm is the bundled CRM server deployed onto hosts (web, api, worker roles).
bin/crm: FORCE
	go build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/crm ./cmd/crm

# -count=1: every test runs; a cached pass says nothing about the PostgreSQL,
# Chromium or Pulumi on this machine today. Two end-to-end stacks at a time
# (go test's -parallel defaults to GOMAXPROCS; only cmd/crmplan's tests are
# t.Parallel). Across packages, a measurement holds the cores alone and
# applies share them (internal/cpulease; CONTRIBUTING.md). Four at a time
# was tried on the 2-core machine whose memory is slow to fault in: every
# apply and rolling deploy took 2-6 times as long, the idle stacks kept
# 0.56 cores busy, and a verify failed its SLO even holding the cores.
#
# gotestsum runs go test -json: one line per package on the terminal (and
# the whole output of a failed test), every test's output and time kept in
# test-artifacts/go-test.json (BENCH lines included), and the tests slower
# than a minute listed at the end, so that the suite's time has names.
test: deps build ui-check
	@mkdir -p test-artifacts
	go tool gotestsum --format pkgname-and-test-fails --jsonfile test-artifacts/go-test.json -- -count=1 -timeout 80m ./...; \
	rc=$$?; echo "tests slower than 60 s (test-artifacts/go-test.json has every test's output):"; \
	go tool gotestsum tool slowest --jsonfile test-artifacts/go-test.json --threshold 60s; exit $$rc

test-short:
	go test -short ./...

# bench prints the quick figures (model, report); bench-stack the ones that
# bring up real stacks (Pulumi apply, k6 against the CRM, the Receptor mesh).
bench:
	go test -run '^$$' -bench . -benchmem ./sizing/ ./reports/

bench-stack: build
	go test -run '^$$' -bench NoChange -benchtime 5x ./provision/
	go test -run '^$$' -bench GeneratorCPU -benchtime 1x ./loadgen/
	go test -run '^$$' -bench RunThroughRelay -benchtime 8x ./provision/mesh/
	go test -run '^$$' -bench FindMaxLocalStack -benchtime 1x -timeout 30m ./cmd/crmplan/
	$(MAKE) bench-fullscale

# bench-fullscale: seed 000 at its plan's 25M records (RECORDS=2000000 for
# fewer): crm seed's COPY beside psql \copy of the same rows on one server,
# then apply --records (seeding progress and time), verify at 150 req/s and
# find-max with p95 < 100 ms on the deployed stack. It runs for long: once.
RECORDS ?= 25000000
bench-fullscale: build
	CRM_SEED_BENCH_RECORDS=$(RECORDS) go test -run '^$$' -bench 'SeedLoad|PsqlCopy' -benchtime 1x -timeout 3h ./app/seed/
	CRMPLAN_BENCH_RECORDS=$(RECORDS) go test -run '^$$' -bench FullScaleStack -benchtime 1x -timeout 3h -v ./cmd/crmplan/

# model-accuracy holds the model to seeds 000 and 001 on the local target:
# apply, verify, calibrate, verify at 1x, 2x and 4x the plan's rate and
# find-max, printing predicted here against measured (about 8 min a seed).
# CRMPLAN_ACCURACY_REPEAT=3 verifies three times at each rate and judges
# the median (at 2x one 30 s run's p95 varies by about ±10 %).
model-accuracy: build
	go test -run '^$$' -bench 'ModelAccuracy/$(SEED)' -benchtime 1x -timeout 60m -v ./cmd/crmplan/

# bench-ssh prints the ssh target's figures on the test rig (root: network
# namespaces running sshd): seed 000 from bare machines to serving, and
# no-change applies against Pulumi's floor measured in the same run.
bench-ssh: build
	go test -run '^$$' -bench SSHApply -benchtime 3x -v -timeout 30m ./provision/

# fuzz runs every fuzzer for FUZZTIME each (8 fuzzers: 8 minutes at the
# default, plus compiles), one after the other: go test fuzzes one target
# per run. make test does not fuzz: it runs each fuzzer's seeds and the
# inputs kept under testdata/fuzz (crashers found here land there) as
# ordinary tests, in well under a second.
FUZZTIME ?= 60s
FUZZERS := topology:FuzzDecodePlan topology:FuzzParseHuman sizing:FuzzSize \
	app:FuzzDecodeCreate app:FuzzParseList app:FuzzParseContactsCSV \
	app/api:FuzzDecodeUser app/api:FuzzDecodeRequest

fuzz:
	@set -e; for f in $(FUZZERS); do \
		pkg=$${f%%:*}; name=$${f##*:}; \
		echo "== $$name in ./$$pkg for $(FUZZTIME)"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	done

# demo runs the whole loop on this machine for the SimpleCRM reference
# workload (seed 000). The stack stays up afterwards; `make demo-destroy`
# tears it down. State lives in .state/ inside the repository.
DEMO_PLAN ?= examples/simplecrm.yaml
DEMO_DURATION ?= 1m
DEMO_STATE := $(CURDIR)/.state

demo: deps build
	@echo "== size: workload -> topology"
	$(BIN)/crmplan size --plan $(DEMO_PLAN)
	@echo "== apply: Pulumi provisions the hosts and deploys the CRM"
	CRMPLAN_STATE_DIR=$(DEMO_STATE) $(BIN)/crmplan apply --plan $(DEMO_PLAN) --yes
	@echo "== verify: k6 at the plan's rate against the SLO"
	CRMPLAN_STATE_DIR=$(DEMO_STATE) $(BIN)/crmplan verify --plan $(DEMO_PLAN) --duration $(DEMO_DURATION)
	@echo "== report"
	@report=$$(CRMPLAN_STATE_DIR=$(DEMO_STATE) $(BIN)/crmplan report --plan $(DEMO_PLAN) | head -1) && \
	echo && echo "The capacity report is at $$report" && \
	echo "The stack is still running: make demo-destroy tears it down."

demo-destroy:
	CRMPLAN_STATE_DIR=$(DEMO_STATE) $(BIN)/crmplan destroy --plan $(DEMO_PLAN) --yes

# ui rebuilds the React UI into app/ui/dist, which is committed and embedded
# so that `go build` needs no Node.js.
ui:
	cd app/ui && npm ci --no-audit --no-fund && npm run build

# ui-check runs the UI's unit tests and fails when the committed dist does
# not match a fresh build of the sources.
ui-check: ui
	cd app/ui && npm test
	git diff --exit-code -- app/ui/dist
	@test -z "$$(git status --porcelain -- app/ui/dist)" || { git status --short -- app/ui/dist; echo "app/ui/dist differs from a fresh build: run make ui and commit it"; exit 1; }

clean:
	rm -rf $(BIN)

FORCE:
