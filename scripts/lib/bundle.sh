# Builds the bundled entry (scripts/bundle.ts) with Deno $1; never fails. A
# failure is remembered in dist/bundle/failed, so that scripts/lib/env.sh
# does not try again until a source changes.
# Usage: sh scripts/lib/bundle.sh DENO
cd "$(dirname "$0")/../.."
mkdir -p dist/bundle 2>/dev/null && [ -w dist/bundle ] || exit 0
if [ -n "${1:-}" ] && "$1" run -A --quiet scripts/bundle.ts >&2; then
  rm -f dist/bundle/failed
else
  echo "nsbox: could not bundle the CLI (scripts/bundle.ts): nsbox runs from source" >&2
  touch dist/bundle/failed
fi
