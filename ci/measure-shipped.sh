#!/usr/bin/env bash
# Measure every shipped profile into OUT/<name>/report.json (default build/gate).
# A failed handshake still writes its report (the gate fails on it); a profile
# whose measure could not run leaves no report, and the gate names it missing.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/gate}
rm -rf "$out"; mkdir -p "$out"
for profile in profiles/*.yaml; do
  name=$(basename "$profile" .yaml)
  ./tlsfit measure "$profile" -o "$out/$name" >"$out/$name.log" 2>&1
  code=$?
  echo "measure $name: exit $code"
  [ $code -le 1 ] || tail -5 "$out/$name.log"
done
