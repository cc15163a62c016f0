#!/usr/bin/env bash
# Installs the second decoders the extract tests check copies with, where
# Debian has one: mpg123 (MP3, honours the LAME tag's gapless fields) and
# opusdec (Ogg Opus, honours pre-skip and the end granule). A no-op when
# they are there. Run as root (CI and developer machines are),
# or with sudo available.
set -euo pipefail

pkgs=()
command -v mpg123 >/dev/null 2>&1 || pkgs+=(mpg123)
command -v opusdec >/dev/null 2>&1 || pkgs+=(opus-tools)
[ ${#pkgs[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-decoders: missing ${pkgs[*]} and no apt-get: install them by hand; the second-decoder tests skip" >&2
	exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-decoders: not root and no sudo: cannot install ${pkgs[*]}; the second-decoder tests skip" >&2
		exit 0
	fi
	sudo="sudo"
fi
echo "install-decoders: installing ${pkgs[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists may be stale or absent on a fresh machine.
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
