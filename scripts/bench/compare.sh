#!/usr/bin/env bash
# Runs the benchmarks against two kmsnap binaries in one session, alternating A and B so that
# the machine's drift touches both alike (issue #14: "benchmarks before and after, same
# machine, same run"). Output: one log per run under OUT, and the figures of each run on stdout.
#
# Usage: scripts/bench/compare.sh A_BIN B_BIN [OUT] [ROUNDS]
#   A_BIN, B_BIN  two release binaries (e.g. one built from the previous commit)
#   OUT           where logs go (default: a new /tmp/kmsnap-compare.XXXXXX)
#   ROUNDS        kms_bench rounds per binary (default 3; each round 5 s per case)
# Needs: wrk, GNU dd, the e2e venv (tests/e2e/.venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
A=$1; B=$2
OUT=${3:-$(mktemp -d /tmp/kmsnap-compare.XXXXXX)}
ROUNDS=${4:-3}
PY=tests/e2e/.venv/bin/python
mkdir -p "$OUT"
echo "logs in $OUT; load average $(cut -d' ' -f1 /proc/loadavg)"
run() { # label bin log-name command...
  local label=$1 bin=$2 log=$3; shift 3
  KMSNAP_BIN=$bin "$@" >"$OUT/$log" 2>&1 || echo "($label: exit $?)" >>"$OUT/$log"
}
for r in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    bin=$A; [ $side = B ] && bin=$B
    run $side "$bin" "kms-$side-$r.log" $PY scripts/bench/kms_bench.py --duration 5 --baseline
    echo "== kms round $r $side"; { grep -E "req/s" "$OUT/kms-$side-$r.log" || true; } | sed 's/ (8 connections.*\[/ [/'
  done
done
for side in A B; do
  bin=$A; [ $side = B ] && bin=$B
  run $side "$bin" "ebs-direct-$side.log" $PY scripts/bench/ebs_direct_bench.py --runs 5
  echo "== ebs direct $side"; grep -E "^(put|get):" "$OUT/ebs-direct-$side.log" || true
done
for side in A B; do
  bin=$A; [ $side = B ] && bin=$B
  run $side "$bin" "ebs-copy-$side.log" $PY scripts/bench/ebs_copy_bench.py --gib 2 --runs 3
  echo "== ebs copy $side"; grep -E "^(dd direct|CopySnapshot|incremental):" "$OUT/ebs-copy-$side.log" || true
done
