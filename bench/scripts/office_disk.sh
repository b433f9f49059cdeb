#!/usr/bin/env bash
# Disk per entry held by an office (issue 13 goal 3), through the real release binaries: for each size a
# fresh office store (a hub to enroll with, NOUT markets, then one `survey import` of the rest), then the
# import's rate, the median wall time of REPS `status` runs (each opens the store), and the store folder
# per entry, split into sled's files and the view snapshot (`view.snapshot`).
# Usage: bench/scripts/office_disk.sh [BINDIR] [SIZES...]   (defaults: target/release 10000 100000)
# Env: NOUT (default 100 markets), REPS (default 11).
set -e
DEFAULT_SIZES="10000 100000"
source "$(dirname "$0")/office_store.sh" "$@"
for N in $SIZES; do
  make_office $N
  s=$(date +%s%N); $B/baobi-agent --data $A survey import $D/rows.jsonl >/dev/null 2>&1; e=$(date +%s%N)
  imp=$(( (e - s) / 1000000 ))
  st=$(for r in $(seq $REPS); do ms $B/baobi-agent --data $A status; done | median)
  all=$(du -sb $A | cut -f1)
  snap=$(stat -c %s $A/view.snapshot 2>/dev/null || echo 0)
  printf '%7d entries: %d B/entry on disk (sled %d, snapshot %d), import %d rows/s, status %.1f ms (median of %d)\n' \
    $N $((all / N)) $(((all - snap) / N)) $((snap / N)) $(( (N - NOUT) * 1000 / imp )) $(echo "$st/1000" | bc -l) $REPS
  rm -rf $A
done
