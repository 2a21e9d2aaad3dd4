#!/bin/sh
# Demo deploy for Shipmate's exec executor: pretends to roll out
# $SHIPMATE_VERSION of $SHIPMATE_APP and records it in
# ${DEMO_DIR:-data/demo}/$SHIPMATE_ENV.version.
# A version starting with "bad" or containing "fail" fails its health check.
set -eu
. "$(dirname "$0")/common.sh"

printf '==> deploying %s %s to %s (run %s)\n' "$app" "$version" "$env" "$run"
if [ -n "$previous" ]; then
	printf 'replacing %s\n' "$previous"
fi
echo "pulling artifact..."
sleep 1
echo "switching traffic..."
record "$version"
echo "checking health..."
if bad "$version"; then
	echo "health endpoint returned 503" >&2
	exit 1
fi
echo "done"
