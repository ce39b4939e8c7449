#!/usr/bin/env bash
# Build STAC Browser (static single-page app) from the npm registry into a cache folder, once.
#
# Usage: tests/e2e/build_stac_browser.sh [CACHE_DIR]      (default: .ci/cache/stac-browser)
# Result: CACHE_DIR/dist/index.html, built for `alignsar.stac.serve.make_server(..., browser_dir=dist)`,
# which mounts it at /browser/ (hence --pathPrefix=/browser/); hash history so that deep links such as
#   http://127.0.0.1:PORT/browser/#/external/http:/127.0.0.1:PORT/catalog.json
# need no server-side rewrite. A stamp file in dist records the version and options; a matching stamp
# means there is nothing to do. Needs node + npm and the npm registry; about 2-3 minutes on 2 cores,
# ~420 MB of node_modules (removed after the build unless KEEP_SRC=1), ~6 MB of dist.
set -euo pipefail

VERSION="${STAC_BROWSER_VERSION:-4.0.1}"
# the tarball has no lockfile: ol-stac 1.6.0 breaks the 4.0.1 build, 1.1.0 is the version it was made with
OL_STAC="${STAC_BROWSER_OL_STAC:-1.1.0}"
PATH_PREFIX="/browser/"
HISTORY_MODE="hash"

here="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${1:-$here/.ci/cache/stac-browser}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
dist="$cache/dist"
stamp="stac-browser=$VERSION ol-stac=$OL_STAC pathPrefix=$PATH_PREFIX historyMode=$HISTORY_MODE"

if [ -f "$dist/index.html" ] && [ "$(cat "$dist/.alignsar-build" 2>/dev/null || true)" = "$stamp" ]; then
  echo "build_stac_browser: up to date: $dist ($stamp)"
  exit 0
fi
for tool in node npm tar; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build_stac_browser: $tool not found; cannot build STAC Browser" >&2
    exit 3
  fi
done

src="$cache/src"
rm -rf "$src" "$dist.tmp"
mkdir -p "$src"
start=$(date +%s)
echo "build_stac_browser: fetching @radiantearth/stac-browser@$VERSION"
(cd "$src" && npm pack --silent "@radiantearth/stac-browser@$VERSION" >/dev/null)
tar -xzf "$src"/radiantearth-stac-browser-"$VERSION".tgz -C "$src"
pkg="$src/package"

# pin ol-stac (exact version, also as an override so transitive ranges cannot float)
node -e '
const fs = require("fs");
const [file, olStac] = process.argv.slice(1);
const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
pkg.dependencies["ol-stac"] = olStac;
pkg.overrides = Object.assign({}, pkg.overrides, {"ol-stac": olStac});
fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
' "$pkg/package.json" "$OL_STAC"

echo "build_stac_browser: npm install (ol-stac pinned to $OL_STAC)"
(cd "$pkg" && npm install --no-audit --no-fund --loglevel=error)
echo "build_stac_browser: building (pathPrefix=$PATH_PREFIX historyMode=$HISTORY_MODE)"
(cd "$pkg" && NODE_OPTIONS="${NODE_OPTIONS:---max-old-space-size=4096}" npx vue-cli-service build \
  --dest "$dist.tmp" --pathPrefix="$PATH_PREFIX" --historyMode="$HISTORY_MODE" --noSourceMaps)

test -f "$dist.tmp/index.html"
echo "$stamp" >"$dist.tmp/.alignsar-build"
rm -rf "$dist"
mv "$dist.tmp" "$dist"
if [ "${KEEP_SRC:-0}" != "1" ]; then
  rm -rf "$src"
fi
echo "build_stac_browser: built $dist in $(( $(date +%s) - start )) s ($(du -sh "$dist" | cut -f1))"
