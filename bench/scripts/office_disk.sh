#!/usr/bin/env bash
# Disk per entry held by an office (issue 13 goal 3), through the real release binaries: for each size a
# fresh office store (a hub to enroll with, NOUT markets, then one `survey import` of the rest), then the
# import's rate, the median wall time of REPS `status` runs (each opens the store), and the store folder
# per entry, split into sled's files and the view snapshot (`view.snapshot`).
# Usage: bench/scripts/office_disk.sh [BINDIR] [SIZES...]   (defaults: target/release 10000 100000)
# Env: NOUT (default 100 markets), REPS (default 11).
set -e
B=${1:-target/release}; shift || true
SIZES=${*:-10000 100000}
NOUT=${NOUT:-100}; REPS=${REPS:-11}
D=$(mktemp -d)
trap 'kill $HP 2>/dev/null; rm -rf "$D"' EXIT
H=$D/hub
$B/baobi-hub init --data $H --province 87 --name "Đồng Tháp" >/dev/null 2>&1
PORT=$((20000 + RANDOM % 20000))
$B/baobi-hub serve --data $H --listen 127.0.0.1:$PORT >/dev/null 2>&1 &
HP=$!
sleep 1
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000 )); }
for N in $SIZES; do
  A=$D/agent$N
  TOK=$($B/baobi-hub enroll --data $H --unit 30226 --addr 127.0.0.1:$PORT 2>/dev/null)
  $B/baobi-agent --data $A init --token "$TOK" >/dev/null 2>&1
  OUTS=()
  for i in $(seq 1 $NOUT); do OUTS+=($($B/baobi-agent --data $A outlet add market --name "Chợ số $i" --commune 30226 2>/dev/null)); done
  python3 - $((N - NOUT)) "${OUTS[@]}" > $D/rows.jsonl <<'PY'
import sys, json
n=int(sys.argv[1]); outs=sys.argv[2:]; k=len(outs)
for i in range(n):
    year=2015+(i//k)%10; nth=i//(k*10); month=nth%12+1; day=(nth//12)%28+1
    g=(i*7919)%50000+250
    print(json.dumps({"type":"market","outlet":outs[i%k],"date":f"{year}-{month:02}-{day:02}","vendors_total":180,"vendors_surveyed":60,"nonbio_kg":f"{g//1000}.{g%1000:03}","vendors_nonbio":45}))
PY
  s=$(date +%s%N); $B/baobi-agent --data $A survey import $D/rows.jsonl >/dev/null 2>&1; e=$(date +%s%N)
  imp=$(( (e - s) / 1000000 ))
  st=$(for r in $(seq $REPS); do ms $B/baobi-agent --data $A status; done | median)
  all=$(du -sb $A | cut -f1)
  snap=$(stat -c %s $A/view.snapshot 2>/dev/null || echo 0)
  printf '%7d entries: %d B/entry on disk (sled %d, snapshot %d), import %d rows/s, status %.1f ms (median of %d)\n' \
    $N $((all / N)) $(((all - snap) / N)) $((snap / N)) $(( (N - NOUT) * 1000 / imp )) $(echo "$st/1000" | bc -l) $REPS
  rm -rf $A
done
