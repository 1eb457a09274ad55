#!/bin/sh
# Installs Debian's chromium for bayescomp's headless-browser tests (test/browser/), unless it is already there.
# Idempotent and quiet; meant for CI containers running as root (otherwise it uses sudo when available).
# Usage: scripts/install-chromium.sh   (BAYESCOMP_CHROMIUM overrides the expected path, default /usr/bin/chromium)
set -eu

CHROMIUM="${BAYESCOMP_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
  echo "install-chromium: $("$CHROMIUM" --version 2>/dev/null || echo chromium) already installed at $CHROMIUM; nothing to do"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "install-chromium: $CHROMIUM is missing and this is not root (and sudo is not available);" >&2
  echo "install-chromium: run as root: apt-get update && apt-get install -y --no-install-recommends chromium" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: apt-get not found; install Chromium with your package manager and set BAYESCOMP_CHROMIUM" >&2
  exit 1
fi

echo "install-chromium: $CHROMIUM not found; installing Debian's chromium with apt-get"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null

if [ ! -x "$CHROMIUM" ]; then
  echo "install-chromium: apt-get finished but $CHROMIUM is still missing" >&2
  exit 1
fi
echo "install-chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium) at $CHROMIUM"
