#!/usr/bin/env bash
# Make Debian's Chromium available for the browser tests (Playwright drives it through
# executable_path; we never run `playwright install`, which downloads its own build).
# Installs only when running as root with apt; otherwise says why, and the browser tests
# skip with that reason.
set -u
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "chromium is missing and this is not root: install Debian's 'chromium' package; browser tests will be skipped" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is missing and apt-get is not available; browser tests will be skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || true
fi
if [ -x "$CHROMIUM" ]; then
    echo "installed chromium: $("$CHROMIUM" --version 2>/dev/null | head -n1)" >&2
else
    echo "could not install chromium (apt-get install chromium failed); browser tests will be skipped" >&2
fi
exit 0
