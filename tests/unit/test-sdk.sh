#!/bin/bash
# test-sdk: the Python SDK and the Inspect provider (sdk/python) against a real airlockd
# on test:///default, as TAP. Debian's python3 (the SDK's target), not a pyenv shim.
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON3:-/usr/bin/python3}
if ! [ -x "$PY" ]; then echo "1..0 # SKIP $PY not found"; exit 0; fi
AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
if ! [ -x "$(dirname "$AIRLOCK")/airlockd" ]; then echo "1..0 # SKIP airlockd is not built"; exit 0; fi
export AIRLOCK
exec "$PY" "$HERE/../../sdk/python/tests/tap.py"
