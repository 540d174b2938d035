#!/usr/bin/env bash
# Build tlsfit_<version>_all.deb from this checkout with dpkg-deb (no debhelper needed).
# Usage: packaging/deb/build-deb.sh [OUTDIR]     (default: build/)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/build}
VERSION=$(sed -n 's/^VERSION = "\(.*\)"$/\1/p' "$ROOT/cli/__init__.py")
[ -n "$VERSION" ] || { echo "build-deb: error: no VERSION in cli/__init__.py" >&2; exit 1; }
DEPENDS=$(grep -v '^#' "$ROOT/packaging/deb/depends.txt" | sed '/^$/d' | paste -sd, - | sed 's/,/, /g')

mkdir -p "$OUT"
STAGE=$(mktemp -d "$OUT/deb-stage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
make -s -C "$ROOT" install DESTDIR="$STAGE" PREFIX=/usr
mkdir -p "$STAGE/DEBIAN" "$STAGE/usr/share/doc/tlsfit"
cp "$ROOT/README.md" "$STAGE/usr/share/doc/tlsfit/README.md"
cp "$ROOT/ci/README.md" "$STAGE/usr/share/doc/tlsfit/CI.md"
sed -e "s/@VERSION@/$VERSION/" -e "s/@DEPENDS@/$DEPENDS/" "$ROOT/packaging/deb/control.in" > "$STAGE/DEBIAN/control"
size=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
echo "Installed-Size: $size" >> "$STAGE/DEBIAN/control"
deb="$OUT/tlsfit_${VERSION}_all.deb"
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$deb.part" >/dev/null
mv "$deb.part" "$deb"
echo "$deb"
