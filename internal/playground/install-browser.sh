#!/usr/bin/env bash
# Installs the headless browser the playground's end-to-end test drives:
# Debian's chromium package (and fonts, so screenshots show text). It is a
# no-op when a chromium is already on PATH. Run as root (CI and the
# developer machines are), or with sudo available.
set -euo pipefail

have() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
if have; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-browser: no chromium and no apt-get: install Chromium by hand to run the browser test" >&2
	exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
		echo "install-browser: not root and no sudo: cannot install chromium; the browser test will skip" >&2
		exit 0
	fi
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists may be stale or absent on a fresh machine.
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
have
