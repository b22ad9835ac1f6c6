#!/usr/bin/env bash
# promtool for the deploy tests (promtool check/test rules); Debian's `prometheus` package
# ships it. Its postinst tries to start the server, a no-op without an init system; we only
# need promtool.
exec "$(dirname "$0")/ensure-debian-package.sh" promtool prometheus "promtool tests"
