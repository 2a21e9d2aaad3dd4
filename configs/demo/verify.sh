#!/bin/sh
# Demo smoke test for Shipmate's exec executor: passes if the environment
# runs $SHIPMATE_VERSION and that version is not one of the broken demo builds.
set -eu
. "$(dirname "$0")/common.sh"

now=$(running)
if [ "$now" != "$version" ]; then
	printf 'smoke: GET /version returned "%s", want "%s"\n' "$now" "$version" >&2
	exit 1
fi
if bad "$version"; then
	echo "smoke: GET /healthz 503" >&2
	exit 1
fi
echo "smoke: GET /healthz 200"
printf 'smoke: GET /version 200 (%s)\n' "$version"
echo "smoke: all checks passed"
