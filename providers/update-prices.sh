#!/bin/sh
# update-prices.sh SRCDIR [VERSION]: regenerates SRCDIR/providers/prices.json, the price
# catalog quotapool ships, from the npm package @pydantic/genai-prices (MIT), installed
# with npm into ${XDG_CACHE_HOME:-~/.cache}/quotapool/genai-prices, outside the source
# tree. VERSION defaults to the newest published one (npm view). `make update-prices` runs
# this; the build itself never downloads anything. Review the diff and commit it.
set -eu

src=${1:?usage: update-prices.sh SRCDIR [VERSION]}
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
	echo "update-prices.sh: node and npm are needed (Debian: apt-get install nodejs npm)" >&2
	exit 1
fi
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
export npm_config_loglevel=warn
version=${2:-$(npm view @pydantic/genai-prices version)}
dir=${XDG_CACHE_HOME:-$HOME/.cache}/quotapool/genai-prices
mkdir -p "$dir"
[ -f "$dir/package.json" ] || printf '{"private":true}\n' >"$dir/package.json"
(cd "$dir" && npm install --no-save --ignore-scripts "@pydantic/genai-prices@$version")
tmp="$src/providers/prices.json.tmp"
node "$src/providers/genai-prices.mjs" "$dir/node_modules/@pydantic/genai-prices" "$tmp"
mv "$tmp" "$src/providers/prices.json"
