#!/usr/bin/env bash
# Sourced by open_scale.sh and office_disk.sh: the one way they build what they measure. After
# `source office_store.sh BINDIR [SIZES...]` there are $B, $SIZES, $NOUT, $REPS, a serving hub in $D/hub,
# `median`, `ms` (a command's wall time in µs), and `make_office N`, which makes the office store $A
# (enrolled at that hub, NOUT markets in $OUTS) and the rows to import for N records in $D/rows.jsonl.
B=${1:-target/release}; shift || true
SIZES=${*:-$DEFAULT_SIZES}
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
make_office() {
  local N=$1
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
}
