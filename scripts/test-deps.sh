#!/usr/bin/env bash
# System packages the test suite uses beyond Python: Debian's chromium for the Prefect UI page
# check. Installed with apt-get when missing and this runs as root; otherwise that test skips.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium (Debian package) for the UI page test" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "chromium missing and not root: the UI page test will be skipped" >&2
fi
