#!/usr/bin/env bash
# The firmware-repository CI of ci/github-actions.yml and ci/gitlab-ci.yml, run locally:
#   install the tlsfit .deb, measure the target branch (BASE) and the change (HEAD) on SHARDS shards
#   each, merge the shards' reports, gate HEAD, and write the sticky pull-request comment.
#
# Usage: scripts/ci-local.sh REPO [BASE_REF [HEAD_REF]]      (defaults: HEAD~1 and HEAD)
# Environment:
#   TLSFIT_DEB   a built tlsfit_<version>_all.deb (default: `make deb` in this checkout)
#   SHARDS       number of measure jobs per side (default 2)
#   WORK         where everything goes (default: REPO/build/tlsfit-ci; emptied first)
#   MBEDTLS_DIR  an mbedTLS tree to use; otherwise `tlsfit setup` fetches it into XDG_CACHE_HOME
#   XDG_CACHE_HOME  the CI cache (mbedTLS source and compiled objects; default WORK/cache)
# Reads REPO through `git archive` only: its working tree, index and branches are left alone.
# Exit: the gate's status (0 within limits, 1 regression), 2/3 when a step could not run.
set -euo pipefail

die() { echo "ci-local: error: $*" >&2; exit "${2:-2}"; }
step() { echo "ci-local: $*" >&2; }

[ $# -ge 1 ] || die "usage: scripts/ci-local.sh REPO [BASE_REF [HEAD_REF]]"
REPO=$(cd "$1" && pwd) || die "$1: no such folder"
BASE_REF=${2:-HEAD~1}
HEAD_REF=${3:-HEAD}
SHARDS=${SHARDS:-2}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$REPO/build/tlsfit-ci}
git -C "$REPO" rev-parse --verify -q "$BASE_REF^{commit}" >/dev/null || die "$BASE_REF: not a commit of $REPO"
git -C "$REPO" rev-parse --verify -q "$HEAD_REF^{commit}" >/dev/null || die "$HEAD_REF: not a commit of $REPO"

rm -rf "$WORK"; mkdir -p "$WORK"
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$WORK/cache}

# 1. install tlsfit from its Debian package (unpacked into a scratch root: no root needed)
if [ -z "${TLSFIT_DEB:-}" ]; then
  [ -x "$HERE/packaging/deb/build-deb.sh" ] || die "set TLSFIT_DEB=/path/to/tlsfit_<version>_all.deb"
  step "building the .deb"
  TLSFIT_DEB=$("$HERE/packaging/deb/build-deb.sh" "$WORK/deb")
fi
step "installing $(basename "$TLSFIT_DEB") into $WORK/root"
dpkg-deb -x "$TLSFIT_DEB" "$WORK/root"
TLSFIT="$WORK/root/usr/bin/tlsfit"
"$TLSFIT" --version >&2

# 2. mbedTLS source into the cache (the CI caches XDG_CACHE_HOME/tlsfit between runs)
if [ -z "${MBEDTLS_DIR:-}" ]; then
  step "tlsfit setup (mbedTLS source into $XDG_CACHE_HOME/tlsfit)"
  "$TLSFIT" setup >&2
fi

# 3. measure each side, one job per shard, from a clean export of the commit
measure_side() {  # side ref
  local side=$1 ref=$2 src="$WORK/src-$1" k code
  mkdir -p "$src"
  git -C "$REPO" archive "$ref" | tar -x -C "$src"
  mapfile -t profiles < <(cd "$src" && ls profiles/*.yaml 2>/dev/null | sort)
  [ ${#profiles[@]} -gt 0 ] || die "$ref: no profiles/*.yaml in $REPO"
  for k in $(seq 1 "$SHARDS"); do
    step "measure $side ($ref) shard $k/$SHARDS"
    code=0
    (cd "$src" && "$TLSFIT" measure -q --shard "$k/$SHARDS" "${profiles[@]}" -o "$WORK/$side/shard-$k") || code=$?
    # 1: a handshake failed or a budget was exceeded; the report is written and the gate says so
    [ $code -le 1 ] || die "measure $side shard $k/$SHARDS failed (exit $code)" 3
  done
}
measure_side base "$BASE_REF"
measure_side head "$HEAD_REF"

# 4. merge the shards' reports
mapfile -t head_reports < <(find "$WORK/head" -name report.json | sort)
mapfile -t base_reports < <(find "$WORK/base" -name report.json | sort)
step "merging ${#head_reports[@]} reports"
"$TLSFIT" report "${head_reports[@]}" -o "$WORK/summary" >&2

# 5. gate: the repository's committed baseline when it has one, else the target branch's reports
baseline="$WORK/src-head/ci/baseline.json"
if [ ! -f "$baseline" ]; then
  baseline="$WORK/base-baseline.json"
  "$TLSFIT" gate --write-baseline "$baseline" "${base_reports[@]}" >&2
fi
limits=()
[ -f "$WORK/src-head/ci/limits.yaml" ] && limits=(--limits "$WORK/src-head/ci/limits.yaml")
gate=0
"$TLSFIT" gate --baseline "$baseline" "${limits[@]}" --junit "$WORK/gate-junit.xml" \
  --summary "$WORK/job-summary.md" "${head_reports[@]}" || gate=$?
[ $gate -le 1 ] || die "gate could not run (exit $gate)" 3

# 6. the pull-request comment (the CI templates post it; here it is a file)
"$TLSFIT" comment "$WORK/base" --new "$WORK/head" --link-root "$WORK" -o "$WORK/comment.md" \
  --note "\`$BASE_REF\` ($(git -C "$REPO" rev-parse --short "$BASE_REF")) -> \`$HEAD_REF\` ($(git -C "$REPO" rev-parse --short "$HEAD_REF"))"
cat "$WORK/comment.md" >> "$WORK/job-summary.md"
step "gate exit $gate; comment: $WORK/comment.md; job summary: $WORK/job-summary.md; summary: $WORK/summary/summary.html"
exit $gate
