#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives it through executable_path;
# we never run `playwright install`, which downloads its own build).
exec "$(dirname "$0")/ensure-debian-package.sh" chromium chromium "browser tests"
