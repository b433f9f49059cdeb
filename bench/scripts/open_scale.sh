#!/usr/bin/env bash
# Agent commands that open the store, at 1,000 / 10,000 / 100,000 records held, through the real release
# binaries (issue 13 goal 6): for each size a fresh office store (a hub to enroll with, NOUT markets, then
# `survey import` of the rest), then the median wall time of REPS runs of `status`, `outlet list` and
# `survey show ID` (each opens the store, no daemon), and of REPS saves (`campaign add`).
# Usage: bench/scripts/open_scale.sh [BINDIR] [SIZES...]   (defaults: target/release 1000 10000 100000)
# Env: NOUT (default 100 markets), REPS (default 11).
set -e
DEFAULT_SIZES="1000 10000 100000"
source "$(dirname "$0")/office_store.sh" "$@"
for N in $SIZES; do
  make_office $N
  $B/baobi-agent --data $A survey import $D/rows.jsonl >/dev/null 2>&1
  ID=${OUTS[0]}
  st=$(for r in $(seq $REPS); do ms $B/baobi-agent --data $A status; done | median)
  ol=$(for r in $(seq $REPS); do ms $B/baobi-agent --data $A outlet list --json; done | median)
  sh=$(for r in $(seq $REPS); do ms $B/baobi-agent --data $A survey show $ID; done | median)
  sv=$(for r in $(seq $REPS); do ms $B/baobi-agent --data $A campaign add --date 2025-03-01 --kind event --participants 5 --topic "Túi ni lông"; done | median)
  printf '%7d records: status %6.1f ms, outlet list %6.1f ms, survey show %6.1f ms, campaign add %6.1f ms (medians of %d), store %s\n' \
    $N $(echo "$st/1000" | bc -l) $(echo "$ol/1000" | bc -l) $(echo "$sh/1000" | bc -l) $(echo "$sv/1000" | bc -l) $REPS "$(du -sh $A | cut -f1)"
done
