#!/bin/sh
# mypy --strict over the churnwatch package as it is installed.
#
# The build maps top-level folders to subpackages (streams/ is churnwatch.streams, and so
# on); mypy cannot follow that mapping (python/mypy#10564). So this script lays out
# build/typecheck/churnwatch/ as links shaped like the installed package, runs mypy there,
# and prints its findings with the repository's own paths.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
tree=build/typecheck
rm -rf "$tree"
mkdir -p "$tree/churnwatch"
for entry in churnwatch/*; do
    ln -s "$root/$entry" "$tree/churnwatch/$(basename "$entry")"
done
for folder in schemas rules notifiers followup streams; do
    ln -s "$root/$folder" "$tree/churnwatch/$folder"
done
cd "$tree"
status=0
"$root/.venv/bin/mypy" --config-file "$root/pyproject.toml" --cache-dir "$root/.mypy_cache" \
    -p churnwatch >mypy.out 2>&1 || status=$?
sed -e 's#^churnwatch/\(schemas\|rules\|notifiers\|followup\|streams\)/#\1/#' mypy.out
exit $status
