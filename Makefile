# coio — make targets. `make run` starts the echo example, `make test` runs every check
# CI runs (vet, staticcheck, the race-enabled test suite with goleak).

GO        ?= go
GOBIN     ?= $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
ADDR      ?= 127.0.0.1:7000
CROSS_OS  := darwin freebsd netbsd openbsd

.PHONY: run test lint vet staticcheck cross bench bench-full bench-go build

build:
	$(GO) build ./...

run:
	$(GO) build -o bin/echo ./examples/echo
	./bin/echo -addr $(ADDR)

test: vet staticcheck
	$(GO) test -race -count=1 ./...
	@$(GO) test -count=1 -run '^TestConformanceBackends$$' -v ./iocontext | grep 'backend ' | sed 's/^ *conformance_test.go:[0-9]*: /conformance: /'
	cd bench && $(GO) vet ./... && $(GO) test -race -count=1 ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

lint: vet staticcheck

cross:
	@set -e; for os in $(CROSS_OS); do \
		echo "GOOS=$$os go build ./... && go vet ./..."; \
		GOOS=$$os $(GO) build ./... ; \
		GOOS=$$os $(GO) vet ./... ; \
		echo "cd bench && GOOS=$$os go vet ./..."; \
		(cd bench && GOOS=$$os $(GO) vet ./...) ; \
	done

# A short run of the benchmark matrix of issue #8: every scenario and server, a subset
# of the configurations, under 5 minutes with installs and builds. coio against Go
# net, gnet, nbio, netpoll and Asio (echo, skew, idle memory) and net/http, fasthttp,
# gnet (HTTP with wrk). Installs what it needs (wrk, g++, libasio-dev, liburing-dev)
# with apt-get; writes bench/results/matrix-<UTC date>/ (results.jsonl, results.md,
# PNG charts).
bench:
	bench/scripts/matrix.sh --preset short

# The whole matrix (64 B and 4 KiB, 100 and 1,000 connections, depth 1 and 16, skew at
# 100 and 1,000 connections, idle memory at 10,000 and 19,000, HTTP at 100 and 1,000;
# 2 s warmup, 10 s window, A B B A, then four pairs of coio against each
# configuration's best peer); about 75 minutes on a quiet machine.
bench-full:
	bench/scripts/matrix.sh --preset full

# Go benchmarks of the engine (about a minute): scheduler, timers and echo against Go net.
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 100000x -count 1 ./iocontext/
