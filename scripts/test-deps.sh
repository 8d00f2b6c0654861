#!/usr/bin/env bash
# System packages the test suite uses beyond Python: Debian's chromium for the Prefect UI page
# check. Installed with apt-get when missing and this runs as root; otherwise that test skips.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium (Debian package) for the UI page test" >&2
  # Another apt holding the lock for more than 2 minutes (or any apt failure) is no test
  # failure: the UI page test then skips, saying chromium is missing.
  lock=(-o DPkg::Lock::Timeout=120)
  if ! { apt-get "${lock[@]}" update -qq &&
         DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq chromium >/dev/null; }; then
    echo "could not install chromium (apt is busy or failed): the UI page test will be skipped" >&2
  fi
else
  echo "chromium missing and not root: the UI page test will be skipped" >&2
fi
