#!/usr/bin/env bash
# bench/bench.sh [--quick|--full] [run.py options]: what `make bench` and
# `make bench-quick` run after building build/sluice. Installs the missing
# benchmark peers (haproxy, nginx + stream module, wrk, h2load for the HTTP/2
# scenarios and the syscall count, strace, ss,
# openssl for the TLS scenarios' certificate),
# builds bench/idle_client, raises the fd limit and runs bench/run.py under a
# time limit. A trap stops every process run.py started (pids in RUN/pids).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${BUILD:-build}
[[ $build = /* ]] || build="$root/$build"
mode=--full
if [[ ${1:-} = --quick || ${1:-} = --full ]]; then mode=$1; shift; fi
limit=3600
[[ $mode = --quick ]] && limit=300

# --- peers: install only what is missing
pkgs="haproxy nginx libnginx-mod-stream wrk nghttp2-client strace openssl iproute2"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [[ -n $missing ]]; then
	echo "bench: installing:$missing"
	sudo=; [[ $(id -u) = 0 ]] || sudo=sudo
	$sudo apt-get update -q
	# policy-rc.d (when present) keeps the packaged services from starting;
	# they are never used: every server here runs from bench/conf/.
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing
fi

# --- helpers
mkdir -p "$build/bench"
cc -O2 -Wall -Wextra -o "$build/bench/idle_client" "$here/idle_client.c"

# --- limits: 10,000 idle connections need fds on both ends
ulimit -n 70000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

run=$(mktemp -d /tmp/sluice-bench.XXXXXX)
# Stops what run.py started and left running: each child leads its own
# process group; a pid is signalled only if it is still one of ours.
ours() {
	local comm
	comm=$(ps -o comm= -p "$1" 2>/dev/null) || return 1
	# python3: the TLS handshake client (bench/tls_client.py)
	[[ $comm =~ ^(nginx|haproxy|sluice|idle_client|strace|wrk|h2load|openssl|python3)$ ]] &&
		[[ $(ps -o pgid= -p "$1" | tr -d ' ') = "$1" ]]
}
cleanup() {
	local pid left=""
	if [[ -f $run/pids ]]; then
		while read -r pid; do
			if ours "$pid"; then
				kill -TERM -- "-$pid" 2>/dev/null || true
				left="$left $pid"
			fi
		done <"$run/pids"
		[[ -z $left ]] || sleep 1
		for pid in $left; do
			ours "$pid" && kill -KILL -- "-$pid" 2>/dev/null || true
		done
	fi
	if [[ -n ${keep:-} ]]; then
		echo "bench: logs in $run"
	else
		rm -rf "$run"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

cmd="make bench"
[[ $mode = --quick ]] && cmd="make bench-quick"
cd "$root"
rc=0
timeout -s TERM -k 20 "$limit" python3 "$here/run.py" "$mode" --run-dir "$run" \
	--sluice "$build/sluice" --idle-client "$build/bench/idle_client" \
	--command "$cmd${*:+ (bench/bench.sh $mode $*)}" "$@" || rc=$?
# memory that comes back (issue 16): full runs only; `make bench-memory` alone
if [[ $mode = --full && $rc -eq 0 ]]; then
	timeout -s TERM -k 20 900 python3 "$here/memory.py" --sluice "$build/sluice" \
		--md "$here/results/memory.md" || rc=$?
fi
# keep the logs when something failed (run.py lists the failures in the report)
if [[ $rc -ne 0 || -e $run/failures ]]; then
	keep=1
fi
exit $rc
