#!/bin/sh
# `make run`: start two demo origins on loopback, then sluice on
# conf/sluice.ini, and stop all three together: on Ctrl-C, on SIGTERM or
# SIGHUP to this script (make forwards SIGTERM to it), when sluice exits, and
# when the process that started us goes away without a signal (make killed
# with SIGKILL). sluice runs in the background because a shell runs no trap
# while it waits for a foreground command: with sluice in the foreground a
# SIGTERM here would leave everything running.
set -eu
BIN=${1:-build/sluice}
cd "$(dirname "$0")/.."
PARENT=$PPID
PIDS=""

stop_all() {
	trap - EXIT INT TERM HUP
	# sluice stops gracefully on SIGTERM; the origins just end.
	[ -z "$PIDS" ] || kill -TERM $PIDS 2>/dev/null || true
	wait 2>/dev/null || true
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

python3 conf/demo_origin.py A 9001 & PIDS="$PIDS $!"
python3 conf/demo_origin.py B 9002 & PIDS="$PIDS $!"
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
"$BIN" -f conf/sluice.ini & SLUICE=$!
PIDS="$PIDS $SLUICE"
# The watcher checks once a second that our parent is still there.
(
	while kill -0 $$ 2>/dev/null; do
		if ! kill -0 "$PARENT" 2>/dev/null; then
			kill -TERM $$ 2>/dev/null
			break
		fi
		sleep 1
	done
) &
PIDS="$PIDS $!"
# wait returns early when a trapped signal arrives; the trap then exits.
status=0
wait $SLUICE || status=$?
PIDS=$(echo "$PIDS" | sed "s/ $SLUICE / /")
exit $status
