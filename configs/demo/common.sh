# Shared by Shipmate's demo scripts; sourced, not run.
#
# Shipmate passes the job in SHIPMATE_* environment variables. Their values
# come from chat, so they are checked here before use and always quoted.

die() {
	printf '%s\n' "$*" >&2
	exit 2
}

# plain NAME VALUE fails unless VALUE is a short plain token that is safe in
# a file name and in a message: letters, digits, dot, underscore, plus, dash,
# not starting with a dot or dash.
plain() {
	case $2 in
	'') die "$1 is not set" ;;
	.* | -* | *[!A-Za-z0-9._+-]*) die "refusing $1: it may only hold letters, digits and . _ + -" ;;
	esac
	[ "${#2}" -le 128 ] || die "refusing $1: longer than 128 characters"
}

app=${SHIPMATE_APP-}
version=${SHIPMATE_VERSION-}
env=${SHIPMATE_ENV-}
previous=${SHIPMATE_PREVIOUS_VERSION-}
run=${SHIPMATE_RUN_ID:-0}
plain SHIPMATE_APP "$app"
plain SHIPMATE_VERSION "$version"
plain SHIPMATE_ENV "$env"
[ -z "$previous" ] || plain SHIPMATE_PREVIOUS_VERSION "$previous"
case $run in
*[!0-9]*) die "refusing SHIPMATE_RUN_ID: not a number" ;;
esac

# The demo "environment" is one file holding the version it runs.
dir=${DEMO_DIR:-data/demo}
state=$dir/$env.version

# bad reports whether a version is one of the demo's broken builds: anything
# starting with "bad" or containing "fail", to try the failure path.
bad() {
	case $1 in
	bad* | *fail*) return 0 ;;
	esac
	return 1
}

# record VERSION writes the state file in one step.
record() {
	mkdir -p "$dir" || exit 1
	printf '%s\n' "$1" >"$state.tmp" && mv -f "$state.tmp" "$state" || exit 1
}

# running prints the version the environment runs, or nothing.
running() {
	if [ -f "$state" ]; then
		cat "$state"
	fi
}
