#!/bin/sh
# Install GraphiQL's browser assets from the npm registry into taskbell/web/static/vendor/,
# so /graphql renders without reaching a CDN. Every build (pip install, a wheel) runs it
# through setup.py. Not committed (see .gitignore); safe to re-run.
# Without npm it only says so: TaskBell then serves Strawberry's CDN page instead.
set -eu
cd "$(dirname "$0")/.."
DEST=taskbell/web/static/vendor

# Exactly what Strawberry's GraphiQL page (strawberry/static/graphiql.html) loads from unpkg,
# as "<package>@<version> <file in the package>"; a test keeps this list in step with Strawberry.
ASSETS='
graphiql@3.8.3 graphiql.min.css
graphiql@3.8.3 graphiql.min.js
@graphiql/plugin-explorer@1.0.2 dist/style.css
@graphiql/plugin-explorer@1.0.2 dist/index.umd.js
react@18.2.0 umd/react.production.min.js
react-dom@18.2.0 umd/react-dom.production.min.js
js-cookie@3.0.5 dist/js.cookie.min.js
'

missing() {
  echo "$ASSETS" | while read -r spec file; do
    [ -z "$spec" ] || [ -f "$DEST/$spec/$file" ] || echo "$spec"
  done | sort -u
}

specs=$(missing)
if [ -z "$specs" ]; then
  echo "GraphiQL assets already installed in $DEST"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: GraphiQL at /graphql will load its assets from a public CDN"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for spec in $specs; do
  # npm pack checks each tarball against the registry's integrity hash.
  mkdir "$work/pack"
  npm pack --silent --pack-destination "$work/pack" "$spec" >/dev/null
  mkdir -p "$work/out/$spec"
  tar -xzf "$work/pack"/*.tgz -C "$work/out/$spec" --strip-components=1
  echo "$ASSETS" | while read -r name file; do
    if [ "$name" = "$spec" ]; then
      mkdir -p "$DEST/$spec/$(dirname "$file")"
      # Copy then rename, so an interrupted run never leaves a truncated asset behind.
      cp "$work/out/$spec/$file" "$DEST/$spec/$file.part"
      mv "$DEST/$spec/$file.part" "$DEST/$spec/$file"
    fi
  done
  rm -rf "$work/pack"
done
echo "GraphiQL assets installed in $DEST"
