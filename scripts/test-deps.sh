#!/usr/bin/env bash
# System packages the test suite uses beyond Python: Debian's chromium for the Prefect UI page
# check; postgresql and redis-server for the several-machines topology (tests/test_topology.py).
# Installed with apt-get when missing and this runs as root; otherwise those tests skip.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} (Debian packages) for the UI page and topology tests" >&2
  # Another apt holding the lock for more than 2 minutes (or any apt failure) is no test
  # failure: the tests that need these packages then skip, saying what is missing.
  lock=(-o DPkg::Lock::Timeout=120)
  if ! { apt-get "${lock[@]}" update -qq &&
         DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq "${missing[@]}" >/dev/null; }; then
    echo "could not install ${missing[*]} (apt is busy or failed): the tests that need them will be skipped" >&2
  fi
else
  echo "${missing[*]} missing and not root: the tests that need them will be skipped" >&2
fi
