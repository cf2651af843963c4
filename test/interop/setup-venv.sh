#!/usr/bin/env bash
# Creates (or refreshes) the interop virtualenv at .venv from test/interop/requirements.txt. Idempotent: a stamp of the
# requirements' hash skips pip when nothing changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=$root/.venv
req=$root/test/interop/requirements.txt
stamp=$venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
echo "[setup-venv] installing interop Python packages into .venv" >&2
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
# Packages installed without their dependencies (only their files are needed), listed one per line after the marker.
if grep -q '^# no-deps:' "$req"; then
  sed -n 's/^# no-deps: *//p' "$req" | xargs -r "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps >&2
fi
# Packages whose metadata alone is needed: pip resolves them from the index's metadata files without installing.
mkdir -p "$venv/metadata"
sed -n 's/^# metadata-only: *//p' "$req" | while read -r pin; do
  "$venv/bin/pip" install --quiet --disable-pip-version-check --dry-run --no-deps --ignore-installed \
    --report "$venv/metadata/${pin%%==*}.json" "$pin" >&2
done
echo "$want" > "$stamp"
