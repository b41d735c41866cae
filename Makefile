# coio — make targets. `make run` starts the echo example, `make test` runs every check
# CI runs (vet, staticcheck, the race-enabled test suite with goleak).

GO        ?= go
GOBIN     ?= $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
ADDR      ?= 127.0.0.1:7000
CROSS_OS  := darwin freebsd netbsd openbsd

.PHONY: run test lint vet staticcheck cross bench bench-full build

build:
	$(GO) build ./...

run:
	$(GO) build -o bin/echo ./examples/echo
	./bin/echo -addr $(ADDR)

test: vet staticcheck
	$(GO) test -race -count=1 ./...
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
	done

# A short benchmark run (about a minute): scheduler, timers and echo against Go net.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 100000x -count 1 ./iocontext/

# The echo comparison against every peer (Go net, Asio, gnet, nbio, netpoll), server
# CPU per message at 100 and 1,000 connections; about 15 minutes on a quiet machine.
bench-full:
	bench/scripts/cpu-per-msg.sh --servers "coio coro asio gnet nbio netpoll gonet" --conns "100 1000" --reps 2
