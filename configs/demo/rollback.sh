#!/bin/sh
# Demo rollback for Shipmate's exec executor: puts $SHIPMATE_VERSION back in
# place of $SHIPMATE_PREVIOUS_VERSION in ${DEMO_DIR:-data/demo}/$SHIPMATE_ENV.version.
set -eu
. "$(dirname "$0")/common.sh"

printf '==> rolling back %s in %s to %s (run %s)\n' "$app" "$env" "$version" "$run"
if [ -n "$previous" ]; then
	printf 'replacing %s\n' "$previous"
fi
echo "switching traffic back..."
sleep 1
record "$version"
echo "done"
