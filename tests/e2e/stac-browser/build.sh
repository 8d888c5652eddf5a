#!/usr/bin/env bash
# Builds STAC Browser (the npm package pinned in package-lock.json) with runtime config enabled
# and prints the folder holding node_modules/ (playwright-core) and dist/ (the static app).
# The build is cached per lock file hash in $GEOPERA_E2E_CACHE (default ~/.cache/geopera-stac),
# shared by every checkout on the machine; a fresh clone (CI) builds it once (~3-6 min).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
HASH=$(cat "$HERE/package.json" "$HERE/package-lock.json" "$HERE/build.sh" | sha256sum | cut -c1-16)
OUT="${GEOPERA_E2E_CACHE:-$HOME/.cache/geopera-stac}/stac-browser-$HASH"
mkdir -p "$OUT"
exec 9>"$OUT.lock"
flock 9  # NOTE: two checkouts starting their tests together build it once.
if [ ! -f "$OUT/dist/index.html" ]; then
  if [ ! -f "$OUT/node_modules/.package-lock.json" ]; then
    cp "$HERE/package.json" "$HERE/package-lock.json" "$OUT/"
    (cd "$OUT" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
  rm -rf "$OUT/app" "$OUT/dist.tmp"
  # NOTE: built from a copy outside node_modules/ (babel-loader skips anything under it).
  cp -r "$OUT/node_modules/@radiantearth/stac-browser" "$OUT/app"
  # NOTE: app/node_modules holds what npm nested under the package (ol-stac, see package.json);
  # the rest resolves from $OUT/node_modules, except the styles' relative ../node_modules/ol/ol.css.
  mkdir -p "$OUT/app/node_modules"
  [ -e "$OUT/app/node_modules/ol" ] || ln -s ../../node_modules/ol "$OUT/app/node_modules/ol"
  # Runtime configuration (the "config.js" option of STAC Browser's docs/options.md): the tests
  # write dist/config.js per run with the live server's URL and the auth settings.
  sed -i 's|<!-- <script defer="defer" src="/config.js"></script> -->|<script defer="defer" src="./config.js"></script>|' \
    "$OUT/app/public/index.html"
  grep -q 'src="./config.js"' "$OUT/app/public/index.html"
  (cd "$OUT/app" && SB_historyMode=hash SB_pathPrefix=./ NODE_OPTIONS=--max-old-space-size=2048 \
     "$OUT/node_modules/.bin/vue-cli-service" build --noSourceMaps --dest "$OUT/dist.tmp" >&2)
  echo 'window.STAC_BROWSER_CONFIG = {};' > "$OUT/dist.tmp/config.js"
  mv "$OUT/dist.tmp" "$OUT/dist"
fi
echo "$OUT"
