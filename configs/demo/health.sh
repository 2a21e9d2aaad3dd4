#!/bin/sh
# Demo health check for Shipmate's exec executor: like verify.sh, but quiet
# unless something is wrong, since it runs repeatedly.
set -eu
. "$(dirname "$0")/common.sh"

now=$(running)
if [ "$now" != "$version" ]; then
	printf 'running version is "%s", want "%s"\n' "$now" "$version" >&2
	exit 1
fi
if bad "$version"; then
	echo "health endpoint returned 503" >&2
	exit 1
fi
