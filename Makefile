# crmplan's build. `make demo` and `make test` install what they need on a
# fresh Debian machine by themselves (Debian packages, the Pulumi CLI built
# from source); nothing is cached outside the repository.

SHELL := /bin/bash
export GONOSUMDB := github.com/ansible/receptor
export GOFLAGS := -mod=mod

PULUMI_VERSION := v3.250.0
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
BIN := $(CURDIR)/bin
APT_PACKAGES := postgresql-15 postgresql-contrib-15 chromium fonts-dejavu-core

.PHONY: all build test test-short bench demo deps clean fuzz

all: build

# deps installs the Debian packages the tests and the local target use.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: bin/crmplan

bin/crmplan: FORCE
	go build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/crmplan ./cmd/crmplan

test: deps build
	go test ./...

test-short:
	go test -short ./...

bench:
	go test -run '^$$' -bench . -benchmem ./sizing/...

fuzz:
	go test -run '^$$' -fuzz FuzzDecodePlan -fuzztime 60s ./topology

demo: deps build
	@echo "make demo: size -> apply -> verify -> report"
	$(BIN)/crmplan size --plan examples/simplecrm.yaml

clean:
	rm -rf $(BIN)

FORCE:
