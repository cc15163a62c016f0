#!/usr/bin/env bash
# Builds versitygw (an S3-compatible server; its posix backend keeps objects
# as files) once into a cache outside the clone, for the tests that need a
# real S3 server (internal/testsvc.S3). Prints the binary's path. A no-op
# when the cache has it. Only the Go module proxy is contacted.
#   ${AUDEX_TESTSVC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/audex/testsvc}/versitygw-<version>/versitygw
set -euo pipefail
VERSION=v1.8.0
CACHE=${AUDEX_TESTSVC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/audex/testsvc}
dir="$CACHE/versitygw-$VERSION"
bin="$dir/versitygw"
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
mkdir -p "$CACHE"
# One build at a time: a second caller waits, then finds the binary.
exec 9>"$CACHE/.versitygw.lock"
flock 9
if [ ! -x "$bin" ]; then
	echo "install-versitygw: building versitygw $VERSION into $dir (about a minute, once)" >&2
	tmp=$(mktemp -d "$CACHE/.build-XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# The module root has no main package: install the command.
	GOBIN="$tmp" GOFLAGS=-mod=mod CGO_ENABLED=0 go install "github.com/versity/versitygw/cmd/versitygw@$VERSION" >&2
	mkdir -p "$dir"
	mv "$tmp/versitygw" "$bin"
fi
echo "$bin"
