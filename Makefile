# audex — the README documents these targets. The binary is built as any
# program on the library is (README, "Use audex in your own module"): with the
# environment cmd/audex-env prints for the pinned static FFmpeg. Tests and
# benchmarks run through internal/ffmpeg/with-env, which adds the test
# tooling's ffmpeg. Both build into a cache outside the clone on first use and
# are instant afterwards.
SHELL := bash
WITH  := internal/ffmpeg/with-env
export PATH := /usr/local/go/bin:$(PATH)
GO    ?= go
BIN   := bin/audex
PKGS  := ./...

.PHONY: all deps browser s3server postgres decoders build demo test vet fmt-check bench fuzz fuzz-short fuzz-media soak load clean help

all: build

help:
	@echo "make demo   - build everything needed, extract audio from a sample video"
	@echo "make test   - gofmt check, go vet and the race-enabled test suite"
	@echo "make build  - build $(BIN)"
	@echo "make bench  - Go benchmarks against the ffmpeg CLI of the same build"
	@echo "make fuzz   - run every fuzz target for FUZZTIME (default 30s each)"
	@echo "make fuzz-short - every fuzz target for 3 s (CI)"
	@echo "make fuzz-media - the media fuzz harness (FuzzExtract, tag cgofuzz) for FUZZTIME"
	@echo "make soak   - long leak/soak run (L3)"
	@echo "make load   - 50 concurrent 20 MB uploads and queue overflow (L1, L2)"

deps:
	@command -v $(GO) >/dev/null || { echo "Go 1.26+ is required (https://go.dev/dl)"; exit 1; }
	@$(WITH) true

# The playground's browser test drives Debian's chromium (installed if missing).
browser:
	@internal/testsvc/install-debs.sh "the playground's browser test" \
	  'chromium|chromium-browser=chromium,fonts-dejavu-core' curl=curl

# The S3 tests run against versitygw on loopback, built once into a cache
# outside the clone (about a minute; only the Go module proxy is needed).
s3server:
	@internal/testsvc/install-versitygw.sh >/dev/null

# The distributed mode's tests run throw-away PostgreSQL 15 clusters on
# loopback (Debian's postgresql-15, installed if missing, without a
# cluster of its own).
postgres:
	@internal/testsvc/install-postgres.sh

# The extract tests check copies and stitched segments with second decoders
# (mpg123, opusdec, flac, faad),
# installed if missing.
decoders:
	@internal/testsvc/install-debs.sh "the second-decoder tests" mpg123=mpg123 opusdec=opus-tools flac=flac faad=faad

build:
	@command -v $(GO) >/dev/null || { echo "Go 1.26+ is required (https://go.dev/dl)"; exit 1; }
	@mkdir -p bin
	eval "$$($(GO) run ./cmd/audex-env)" && $(GO) build -trimpath -o $(BIN) ./cmd/audex

demo: build deps
	@mkdir -p demo
	@echo "== making a 10 s sample video (H.264 + stereo AAC) with the build's ffmpeg"
	@$(WITH) bash -c 'ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25 \
	  -f lavfi -i "sine=frequency=440:sample_rate=48000,aformat=channel_layouts=stereo" \
	  -t 10 -c:v libopenh264 -c:a aac -shortest demo/sample.mp4'
	@echo "== probing it"
	$(BIN) probe demo/sample.mp4
	@echo "== extracting 2.5 s from 3.25 s to mp3"
	$(BIN) extract demo/sample.mp4 --start 3.25 --duration 2.5 -o demo/clip.mp3 --json
	@ls -l demo/clip.mp3

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt needed:"; echo "$$out"; exit 1; }

vet: deps
	$(WITH) $(GO) vet $(PKGS)

test: deps browser s3server postgres decoders fmt-check vet
	$(WITH) $(GO) test -race -count=1 -timeout 20m $(PKGS)
	@# The leak checks and the memory bounds of the hostile-input corpus
	@# measure RSS, which the race detector's shadow memory would drown: they
	@# run in a plain build.
	$(WITH) $(GO) test -count=1 -run 'TestNoLeaks|TestSoak|TestHostileInputsEndToEnd' ./extract ./jobs ./internal/httpapi
	@# Crash and hang isolation: isolate processes that write through NULL
	@# or sleep inside C on marker inputs (build tag audexfault). The memory
	@# cap is only applied outside the race detector, so both builds run.
	$(WITH) $(GO) test -race -count=1 -tags audexfault ./internal/isolate
	$(WITH) $(GO) test -count=1 -tags audexfault ./internal/isolate
	@# Every fuzz target for a few seconds on its committed corpus (make
	@# fuzz runs them long).
	@$(MAKE) --no-print-directory fuzz-short

bench: deps postgres s3server
	$(WITH) $(GO) test -run '^$$' -bench . -benchtime 20x -timeout 60m ./extract
	$(WITH) $(GO) test -run '^$$' -bench Isolation -benchtime 300x ./internal/isolate
	$(WITH) $(GO) test -run '^$$' -bench ClipProcess -benchtime 200x ./internal/cli
	$(WITH) $(GO) test -run '^$$' -bench Distributed -benchtime 100x -timeout 30m ./internal/cli

# L3: 2,000 sequential jobs through an in-process job manager, cycling good
# and bad inputs; prints the RSS slope and the goroutine, fd and thread
# counts (make test runs a 150-job version).
SOAK_JOBS ?= 2000
soak: deps
	AUDEX_SOAK_JOBS=$(SOAK_JOBS) $(WITH) $(GO) test -count=1 -timeout 60m -run '^TestSoak$$' -v ./jobs

# L1/L2: 50 concurrent 20 MB uploads on loopback into a queue of 20, and
# 150 quick submissions into a queue of 100; prints submit latency and peak
# memory (make test runs them with 256 KiB uploads).
load: deps
	AUDEX_LOAD=1 $(WITH) $(GO) test -count=1 -run '^(TestConcurrentUploads|TestQueueOverflow)$$' -v ./internal/httpapi

FUZZTIME ?= 30s
# Minimizing a new input can take a worker a minute of silent work: keep
# it short so the budget goes to fuzzing.
FUZZFLAGS = -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
# Fuzz targets are found in the test files go list selects (build tags
# honoured), without building every test binary to list them.
fuzz: deps
	@$(WITH) bash -c 'set -eo pipefail; \
	  $(GO) list -f "{{.ImportPath}} {{.Dir}} {{join .TestGoFiles \" \"}} {{join .XTestGoFiles \" \"}}" $(PKGS) | \
	  while read -r pkg dir files; do \
	    for f in $$(cd $$dir && sed -n "s/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p" $$files /dev/null); do \
	      echo "== $$pkg $$f"; $(GO) test -run "^$$" -fuzz "^$$f$$" $(FUZZFLAGS) $$pkg </dev/null; done; done'

# Every fuzz target for a thousand inputs past its committed corpus: for
# CI. A count, not a duration: Go 1.26's fuzzing coordinator can report a
# bare "context deadline exceeded" failure when a -fuzztime duration ends
# while a starved worker is mid-input (go.dev/issue/75804, fixed in 1.27).
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=1000x

# F-10: the seeded media harness on the whole pipeline (build tag
# cgofuzz). Long runs find more: make fuzz-media FUZZTIME=30m
fuzz-media: deps
	$(WITH) $(GO) test -tags cgofuzz -run '^$$' -fuzz '^FuzzExtract$$' $(FUZZFLAGS) ./extract

clean:
	rm -rf bin demo
