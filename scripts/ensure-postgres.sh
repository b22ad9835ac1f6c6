#!/usr/bin/env bash
# Start the local PostgreSQL cluster if it is installed but not accepting connections.
# Tests that need PostgreSQL skip with a reason when it cannot be reached.
set -u
if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then
    exit 0
fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for version in $(ls /etc/postgresql); do
        pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
    done
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
        sleep 0.5
    done
    echo "PostgreSQL did not come up; PostgreSQL tests will be skipped" >&2
else
    echo "PostgreSQL is not installed here; PostgreSQL tests will be skipped" >&2
fi
exit 0
