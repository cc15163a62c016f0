#!/usr/bin/env bash
# Installs what the playground's end-to-end test needs: Debian's chromium
# (and a font, so screenshots show text) and curl (the test runs the page's
# curl lines). A no-op when they are there. Run as root (CI and developer
# machines are), or with sudo available.
set -euo pipefail

pkgs=()
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ||
	pkgs+=(chromium fonts-dejavu-core)
command -v curl >/dev/null 2>&1 || pkgs+=(curl)
[ ${#pkgs[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-browser: missing ${pkgs[*]} and no apt-get: install them by hand to run the browser test" >&2
	exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-browser: not root and no sudo: cannot install ${pkgs[*]}; the browser test will skip" >&2
		exit 0
	fi
	sudo="sudo"
fi
echo "install-browser: installing ${pkgs[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists may be stale or absent on a fresh machine.
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
