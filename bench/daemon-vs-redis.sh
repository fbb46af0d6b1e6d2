#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# daemon-vs-redis.sh - vmad against redis-server, side by side, same run.
#
# Starts redis-server on a temporary Unix socket (no TCP) and vmad on
# another, measures with redis-benchmark (-t get) and vma-bench (fault),
# prints one JSON line per figure (ARCHITECTURE.md "Performance" format:
# bench, figure, impl, value, unit, parameters) with both values and the
# ratio, and stops both servers. A benchmark, not a test: it asserts
# nothing, but prints "target" and "meets" for each figure.
#
# Usage: bench/daemon-vs-redis.sh [VMAD [VMA_BENCH]]
#   VMAD       vmad binary (default $VMAD, else build/daemon/vmad)
#   VMA_BENCH  vma-bench binary (default $VMA_BENCH, else clients/vma-bench
#              beside the daemon's build directory)
# Environment:
#   DURATION   seconds of each measured vma-bench run (default 4)
#   REDIS_N    requests of each redis-benchmark run (default 400000;
#              4000000 with -P 32)
#   CONNS      connections (default 50)     PIPELINE  depth (default 32)
#   WORKERS    vmad --workers (default 0: one per CPU)
#   CLIENT_THREADS  threads of both load generators (default 2)
#   LONG_JOBS  1: also run tests/integration/test_long_jobs.py with
#              VMAD_TEST_VMAS (default 1000000) and report the worst ping
#
# Figures (impl "vmad" and "redis", then a "ratio" line):
#   rps_c50_p1       closed loop, one request in flight per connection
#   rps_c50_p32      closed loop, 32 in flight per connection
#   p99_half_load    vmad's p99 in open loop at half its rps_c50_p1 rate
#                    (p99_half_pipelined_load: at half its rps_c50_p32,
#                    -p PIPELINE in a row per connection;
#                    redis: p99 of its pipelined closed-loop run, for scale)
#   rps_mutators     vmad fault rate with one mutator connection, and its
#                    ratio to the rate without
#   long_job_stall   (LONG_JOBS=1) worst ping during fork/maps/destroy
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
VMAD=${1:-${VMAD:-$here/build/daemon/vmad}}
VMA_BENCH=${2:-${VMA_BENCH:-$(dirname "$(dirname "$VMAD")")/clients/vma-bench}}
DURATION=${DURATION:-4}
REDIS_N=${REDIS_N:-400000}
REDIS_NP=${REDIS_NP:-4000000}
CONNS=${CONNS:-50}
PIPELINE=${PIPELINE:-32}
WORKERS=${WORKERS:-0}
CLIENT_THREADS=${CLIENT_THREADS:-2}
LONG_JOBS=${LONG_JOBS:-0}

for b in "$VMAD" "$VMA_BENCH"; do
	if [ ! -x "$b" ]; then
		echo "daemon-vs-redis: $b not found (build it first)" >&2
		exit 2
	fi
done

# redis is the yardstick only: installed on demand, never a dependency.
if ! command -v redis-server >/dev/null 2>&1 ||
	! command -v redis-benchmark >/dev/null 2>&1; then
	echo "daemon-vs-redis: installing redis-server redis-tools" >&2
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get install -y -q redis-server redis-tools >&2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmad-vs-redis.XXXXXX")
redis_pid=
vmad_pid=
cleanup() {
	[ -n "$vmad_pid" ] && kill "$vmad_pid" 2>/dev/null &&
		wait "$vmad_pid" 2>/dev/null
	[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null &&
		wait "$redis_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_sock() {
	i=0
	while [ ! -S "$1" ]; do
		i=$((i + 1))
		if [ $i -gt 200 ]; then
			echo "daemon-vs-redis: $1 did not appear" >&2
			exit 1
		fi
		sleep 0.05
	done
}

redis-server --port 0 --unixsocket "$tmp/redis.sock" --unixsocketperm 700 \
	--save "" --appendonly no --dir "$tmp" --logfile "$tmp/redis.log" \
	>/dev/null 2>&1 &
redis_pid=$!
"$VMAD" --socket "$tmp/vmad.sock" --workers "$WORKERS" --log-level warn \
	>"$tmp/vmad.out" 2>"$tmp/vmad.err" &
vmad_pid=$!
wait_sock "$tmp/redis.sock"
wait_sock "$tmp/vmad.sock"
redis-cli -s "$tmp/redis.sock" set key:__rand_int__ xxx >/dev/null

# redis-benchmark --csv: "GET","rps","avg","min","p50","p95","p99","max"
redis_get() { # $1 = pipeline, $2 = requests -> "rps p99_ms"
	redis-benchmark -s "$tmp/redis.sock" -t get -c "$CONNS" -n "$2" \
		-P "$1" --threads "$CLIENT_THREADS" --csv 2>/dev/null |
		awk -F'"' '$2 == "GET" { print $4, $14 }'
}

# vma-bench --json: the fault requests/s and their p99 (mutators' own
# requests are not counted), then the mutators' requests/s.
vb() { # args... -> "fault_rps fault_p99_us mutator_rps"
	"$VMA_BENCH" -s "$tmp/vmad.sock" --daemon-pid "$vmad_pid" --json \
		-t "$CLIENT_THREADS" -d "$DURATION" -w 1 "$@" | python3 -c '
import json, sys
o = json.loads(sys.stdin.read().strip().splitlines()[-1])
f = o["ops"]["fault"]
m = sum(v["requests_per_s"] for k, v in o["ops"].items() if k != "fault")
print(f["requests_per_s"], f["latency_us"]["p99"], m)'
}

line() { # figure impl value unit extra-json
	printf '{"bench": "daemon-vs-redis", "figure": "%s", "impl": "%s", "value": %s, "unit": "%s", "connections": %s, "client_threads": %s%s}\n' \
		"$1" "$2" "$3" "$4" "$CONNS" "$CLIENT_THREADS" "$5"
}

ratio_line() { # figure value base target extra [base-name]
	python3 - "$@" "$CONNS" <<'EOF'
import json, sys
fig, v, r, target, extra = sys.argv[1:6]
base = sys.argv[6] if len(sys.argv) > 7 else "redis"
conns = sys.argv[-1]
v, r, target = float(v), float(r), float(target)
o = {"bench": "daemon-vs-redis", "figure": fig, "impl": "ratio",
     "value": round(v / r, 3) if r else None, "unit": "x",
     "connections": int(conns), "vmad": v, base: r,
     "target": target, "meets": bool(r) and v / r >= target}
o.update(json.loads("{" + extra.lstrip(",") + "}"))
print(json.dumps(o))
EOF
}

# 1. one request in flight per connection
set -- $(redis_get 1 "$REDIS_N")
r1=$1
line rps_c50_p1 redis "$r1" req/s ', "pipeline": 1, "op": "get"'
set -- $(vb -c "$CONNS" -p 1)
v1=$1
line rps_c50_p1 vmad "$v1" req/s ', "pipeline": 1, "op": "fault"'
ratio_line rps_c50_p1 "$v1" "$r1" 1.0 ', "pipeline": 1'

# 2. pipelined
set -- $(redis_get "$PIPELINE" "$REDIS_NP")
rp=$1
rp99=$2
line rps_c50_p$PIPELINE redis "$rp" req/s ", \"pipeline\": $PIPELINE, \"op\": \"get\""
set -- $(vb -c "$CONNS" -p "$PIPELINE")
vp=$1
line rps_c50_p$PIPELINE vmad "$vp" req/s ", \"pipeline\": $PIPELINE, \"op\": \"fault\""
ratio_line rps_c50_p$PIPELINE "$vp" "$rp" 0.5 ", \"pipeline\": $PIPELINE"

# 3. p99 in open loop (latency from each request's intended send time):
# at half of the one-in-flight rate with requests spread one by one over
# the connections, and at half of the pipelined rate with up to PIPELINE
# requests in a row per connection (vma-bench -R R -p N).
p99_run() { # figure rate target pipeline
	set -- "$1" "$2" "$3" "$4" $(vb -c "$CONNS" -R "$2" -p "$4")
	python3 -c "
import json
print(json.dumps({'bench': 'daemon-vs-redis', 'figure': '$1',
  'impl': 'vmad', 'value': $6, 'unit': 'us', 'connections': $CONNS,
  'rate': $2, 'pipeline': $4, 'achieved_rps': round($5), 'target': $3,
  'meets': $6 < $3}))"
}
p99_run p99_half_load "$(python3 -c "print(int($v1 / 2))")" 1000 1
p99_run p99_half_pipelined_load "$(python3 -c "print(int($vp / 2))")" 1000 \
	"$PIPELINE"
line p99_pipelined redis "$(python3 -c "print($rp99 * 1000)")" us \
	", \"pipeline\": $PIPELINE, \"op\": \"get\", \"note\": \"closed loop, for scale\""

# 4. with one mutator on the same space
set -- $(vb -c "$CONNS" -p 1 --mutators 1)
vm=$1
line rps_mutators vmad "$vm" req/s ", \"pipeline\": 1, \"mutators\": 1, \"op\": \"fault\", \"mutator_ops_per_s\": $3"

ratio_line rps_mutators_vs_none "$vm" "$v1" 0.8 ', "pipeline": 1, "mutators": 1, "note": "vmad with a mutator / vmad without"' vmad_without_mutators

# 5. long jobs (optional: takes a minute or more)
if [ "$LONG_JOBS" = 1 ]; then
	n=${VMAD_TEST_VMAS:-1000000}
	out=$(VMAD_TEST_VMAS=$n VMAD_TEST_STALL_MS=1000000 python3 \
		"$here/tests/integration/test_long_jobs.py" "$VMAD" 2>&1 || true)
	worst=$(printf '%s\n' "$out" |
		sed -n 's/.*worst during jobs \([0-9.]*\) ms.*/\1/p')
	[ -n "$worst" ] || worst=null
	line long_job_stall vmad "$worst" ms ", \"vmas\": $n, \"target\": 5"
fi
