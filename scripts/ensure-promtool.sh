#!/usr/bin/env bash
# Make promtool available for the deploy tests (promtool check/test rules).
# Debian's `prometheus` package ships it. Installs only when running as root with apt;
# otherwise says why, and the tests that need promtool skip with that reason.
set -u
if command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "promtool is missing and this is not root: install Debian's 'prometheus' package; promtool tests will be skipped" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "promtool is missing and apt-get is not available; promtool tests will be skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# The package's postinst tries to start the Prometheus server; there is no init system in
# CI containers, so that is a no-op there. We never need the server, only promtool.
if ! apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 || true
fi
if command -v promtool >/dev/null 2>&1; then
    echo "installed promtool: $(promtool --version 2>&1 | head -n1)" >&2
else
    echo "could not install promtool (apt-get install prometheus failed); promtool tests will be skipped" >&2
fi
exit 0
