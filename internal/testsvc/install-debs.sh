#!/usr/bin/env bash
# Installs the Debian packages that provide the test tools make test needs,
# for each tool missing from PATH. A no-op when they are all there. Run as
# root (CI and developer machines are), or with sudo available; without
# either, or without apt-get, it says what is missing and the tests that
# need it skip.
#
# Usage: install-debs.sh WHAT TOOL[|TOOL...]=PACKAGE[,PACKAGE...]...
#   WHAT names the tests, for the messages. A tool counts as present when
#   any of its |-separated names is on PATH.
#   install-debs.sh "the browser test" "chromium|chromium-browser=chromium,fonts-dejavu-core" curl=curl
set -euo pipefail

what=${1:?usage: install-debs.sh WHAT TOOL=PACKAGE...}
shift
pkgs=()
for spec in "$@"; do
	tools=${spec%%=*}
	found=
	IFS='|' read -r -a names <<<"$tools"
	for n in "${names[@]}"; do
		command -v "$n" >/dev/null 2>&1 && found=1
	done
	[ -n "$found" ] && continue
	IFS=',' read -r -a more <<<"${spec#*=}"
	pkgs+=("${more[@]}")
done
[ ${#pkgs[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-debs: missing ${pkgs[*]} and no apt-get: install them by hand; $what will skip" >&2
	exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-debs: not root and no sudo: cannot install ${pkgs[*]}; $what will skip" >&2
		exit 0
	fi
	sudo="sudo"
fi
echo "install-debs: installing ${pkgs[*]} for $what" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists may be stale or absent on a fresh machine.
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
