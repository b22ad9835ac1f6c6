#!/usr/bin/env bash
# ensure-debian-package.sh COMMAND PACKAGE PURPOSE
# Make COMMAND available by installing Debian's PACKAGE when it is missing. Installs only
# as root with apt-get; otherwise says why, and the tests that need COMMAND skip with
# that reason. Always exits 0: a missing tool skips tests, it never breaks `make test`.
set -u
command_name=$1
package=$2
purpose=$3
if command -v "$command_name" >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "$command_name is missing and this is not root: install Debian's '$package' package; $purpose will be skipped" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$command_name is missing and apt-get is not available; $purpose will be skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 || true
fi
if command -v "$command_name" >/dev/null 2>&1; then
    echo "installed $command_name from Debian's $package" >&2
else
    echo "could not install $command_name (apt-get install $package failed); $purpose will be skipped" >&2
fi
exit 0
