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
sluice demo: tcp load balancer on 127.0.0.1:8080 -> origins A (:9001), B (:9002)
try, in another terminal:
    for i in 1 2 3 4; do curl -s http://127.0.0.1:8080/; done
each new connection goes to the next origin (round robin). Ctrl-C stops.
MSG
"$BIN" -f conf/sluice.ini
