#!/usr/bin/env bash
# survey import at scale, through the real release binaries: a hub, one enrolled office with NOUT markets,
# N1 rows imported into the empty store, then N2 more; prints the seconds of each and of one `status` after.
# Usage: NOUT=300 bench/scripts/import_scale.sh [BINDIR] [N1] [N2]   (defaults: target/release 100000 10000)
set -e
B=${1:-target/release}; N1=${2:-100000}; N2=${3:-10000}
D=$(mktemp -d); H=$D/hub; A=$D/agent
trap 'kill $HP 2>/dev/null; rm -rf "$D"' EXIT
$B/baobi-hub init --data $H --province 87 --name "Đồng Tháp" >/dev/null 2>&1
PORT=$((20000 + RANDOM % 20000))
$B/baobi-hub serve --data $H --listen 127.0.0.1:$PORT >/dev/null 2>&1 &
HP=$!
sleep 1
TOK=$($B/baobi-hub enroll --data $H --unit 30226 --addr 127.0.0.1:$PORT 2>/dev/null)
$B/baobi-agent --data $A init --token "$TOK" >/dev/null 2>&1
kill $HP
OUTS=()
for i in $(seq 1 ${NOUT:-300}); do OUTS+=($($B/baobi-agent --data $A outlet add market --name "Chợ số $i" --commune 30226 2>/dev/null)); done
gen() { python3 - "$1" "$2" "${OUTS[@]}" <<'PY'
import sys, json
n=int(sys.argv[1]); salt=int(sys.argv[2]); outs=sys.argv[3:]; k=len(outs)
for i in range(n):
    year=2015+(i//k)%10; nth=i//(k*10); month=nth%12+1; day=(nth//12)%28+1
    g=(i*7919+salt*104729)%50000+250
    print(json.dumps({"type":"market","outlet":outs[i%k],"date":f"{year}-{month:02}-{day:02}","vendors_total":180,"vendors_surveyed":60,"nonbio_kg":f"{g//1000}.{g%1000:03}","vendors_nonbio":45}))
PY
}
gen $N1 1 > $D/a.jsonl; gen $N2 2 > $D/b.jsonl
s=$(date +%s.%N); $B/baobi-agent --data $A survey import $D/a.jsonl >/dev/null 2>&1; e=$(date +%s.%N)
echo "first $N1: $(echo "$e - $s" | bc) s"
s=$(date +%s.%N); $B/baobi-agent --data $A survey import $D/b.jsonl >/dev/null 2>&1; e=$(date +%s.%N)
echo "then $N2 more: $(echo "$e - $s" | bc) s"
s=$(date +%s.%N); $B/baobi-agent --data $A status >/dev/null; e=$(date +%s.%N)
echo "status at $((N1+N2)): $(echo "$e - $s" | bc) s"
du -sh $A | cut -f1
rm -rf $D
