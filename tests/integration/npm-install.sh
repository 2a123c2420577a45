#!/bin/sh
# npm-install.sh [DIR]: installs the pinned Node.js packages that the SDK and
# agent tests drive (tests/integration/test_sdk.py, test_agents.py,
# test_xagents.py) into DIR,
# outside the source tree. DIR defaults to $QP_NODE_PACKAGES, else
# ${XDG_CACHE_HOME:-~/.cache}/quotapool/npm. The tests find the packages
# there: make check reads $QP_NODE_PACKAGES, else that default.
# .ci/run and developers use this same script (`make npm-install` runs it).
# Nothing is installed when DIR already holds every pinned version.
set -eu

# Pinned: the newest versions (npm view NAME version) when the tests were
# written, except openai: 7.x wants Node.js 22 and Debian 12 has 18; 6.49.0
# runs on 18 and later.
PACKAGES="openai@6.49.0 @anthropic-ai/sdk@1.17.0 @anthropic-ai/claude-code@2.1.332 opencode-ai@1.18.33
@openai/codex@0.171.0"

dir=${1:-${QP_NODE_PACKAGES:-${XDG_CACHE_HOME:-$HOME/.cache}/quotapool/npm}}

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
	echo "npm-install.sh: node and npm are needed (Debian: apt-get install nodejs npm)" >&2
	exit 1
fi

# No telemetry, update checks, funding or audit calls from npm itself.
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
export npm_config_loglevel=warn DISABLE_TELEMETRY=1 DO_NOT_TRACK=1

have() {	# have NAME VERSION: DIR holds NAME at VERSION
	node -e 'const v = require(process.argv[1]).version;
	    process.exit(v === process.argv[2] ? 0 : 1)' \
	    "$dir/node_modules/$1/package.json" "$2" 2>/dev/null
}

missing=""
for p in $PACKAGES; do
	name=${p%@*}
	version=${p##*@}
	have "$name" "$version" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "npm-install.sh: $dir holds every pinned package"
	exit 0
fi

mkdir -p "$dir"
[ -f "$dir/package.json" ] || printf '{ "private": true }\n' >"$dir/package.json"
echo "npm-install.sh: installing$missing into $dir"
# shellcheck disable=SC2086
npm install --prefix "$dir" --save-exact --no-audit --no-fund $PACKAGES
for p in $PACKAGES; do
	if ! have "${p%@*}" "${p##*@}"; then
		echo "npm-install.sh: $p did not install" >&2
		exit 1
	fi
done
