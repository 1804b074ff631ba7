#!/bin/sh
# `make run`: start two demo origins on loopback, then sluice in the
# foreground on conf/sluice.ini. Ctrl-C stops everything.
set -eu
BIN=${1:-build/sluice}
cd "$(dirname "$0")/.."
python3 conf/demo_origin.py A 9001 & A=$!
python3 conf/demo_origin.py B 9002 & B=$!
trap 'kill $A $B 2>/dev/null || true' EXIT INT TERM
sleep 0.3
cat <<MSG
sluice demo: origins A (:9001) and B (:9002) behind
    http://127.0.0.1:8080/   http, balanced per request (keep-alive pool to the origins)
    127.0.0.1:8081           tcp, balanced per connection
    http://127.0.0.1:9100/stats   the stats page (/metrics, /stats.json too)
try, in another terminal:
    curl -s http://127.0.0.1:8080/ http://127.0.0.1:8080/ http://127.0.0.1:8080/
    for i in 1 2 3 4; do curl -s http://127.0.0.1:8081/; done
Ctrl-C stops everything.
MSG
"$BIN" -f conf/sluice.ini
