#!/usr/bin/env bash
# Benchmarks/compare.sh — gateway builds or settings side by side, in one run, in front of one diod.
#
#   Benchmarks/compare.sh [--rounds R] [--runtime S] [--getattr] NAME='COMMAND' ...
#
# For A/B work on the gateway itself (the comparison with direct diod and HAProxy is run.sh).
# Each NAME='COMMAND' is a gateway command line to which `--listen 127.0.0.1:P --backend
# tcp:127.0.0.1:DIODPORT` is appended, for example
#   Benchmarks/compare.sh default='.build/release/pebble9p serve' \
#                         nosplice='.build/release/pebble9p serve --splice-min 0'
# In each of R rounds (default 4), every path in the order given runs
#   diodcat -m 1048576 of the 1 GiB file (checked with cmp first) → MB/s, gateway CPU-s per GiB
#   diodload -n 4 -r S (default 3)                                → MB/s read, gateway CPU-s per
#                                                                    GiB moved (read + write)
#   with --getattr: diodload -g -n 4 -r S                         → ops/s
# (CPU: utime+stime of the gateway pid from /proc). Prints every round and the medians; records
# nothing. Every step runs under `timeout`; everything started is stopped by pid on exit.
set -euo pipefail

ROUNDS=4
RUNTIME=3
GETATTR=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "compare.sh: $*" >&2; exit 1; }

NAMES=()
COMMANDS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) ROUNDS="${2:?}"; shift 2 ;;
        --runtime) RUNTIME="${2:?}"; shift 2 ;;
        --getattr) GETATTR=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *=*) NAMES+=("${1%%=*}"); COMMANDS+=("${1#*=}"); shift ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds wants a positive integer"
[[ "$RUNTIME" =~ ^[1-9][0-9]*$ ]] || die "--runtime wants a positive integer"
(( ${#NAMES[@]} > 0 )) || { usage >&2; die "name at least one NAME='COMMAND'"; }
for tool in diod diodcat diodload python3 timeout ss awk cmp; do
    command -v "$tool" >/dev/null || die "$tool not found: run scripts/setup"
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="$ROOT/Benchmarks"
WORK="$BENCH/work"                       # git-ignored, shared with run.sh
LOGS="$WORK/logs-compare"
HOST=127.0.0.1
FILE_NAME="bench-1024MiB.bin"
FILE="$WORK/$FILE_NAME"
FILE_BYTES=$(( 1024 * 1048576 ))
CLK_TCK="$(getconf CLK_TCK)"
mkdir -p "$WORK"
rm -rf "$LOGS"
mkdir -p "$LOGS"
. "$BENCH/lib.sh"
cd "$ROOT"
ensure_bench_file "$FILE" "$FILE_BYTES"

read -r -a PORTS <<<"$(free_ports $(( ${#NAMES[@]} + 1 )))"
DIOD_PORT="${PORTS[0]}"
diod -f -n -c /dev/null -l "$HOST:$DIOD_PORT" -e "$WORK" -e ctl -L stderr 2> "$LOGS/diod.log" &
DIOD_PID=$!; PIDS+=("$DIOD_PID")
wait_listen "$DIOD_PORT" "$DIOD_PID" diod

GATEWAY_PIDS=()
for i in "${!NAMES[@]}"; do
    port="${PORTS[$((i + 1))]}"
    # shellcheck disable=SC2086  # the command is split into words on purpose
    ${COMMANDS[$i]} --listen "$HOST:$port" --backend "tcp:$HOST:$DIOD_PORT" 2> "$LOGS/gateway-$i.log" &
    GATEWAY_PIDS[$i]=$!; PIDS+=("$!")
    wait_listen "$port" "${GATEWAY_PIDS[$i]}" "${NAMES[$i]}"
    timeout 120 diodcat -m 1048576 -s "$HOST:$port" -a "$WORK" "/$FILE_NAME" | cmp -s - "$FILE" \
        || die "${NAMES[$i]}: diodcat through it does not give the file back"
done

# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A CAT CATCPU RW RWCPU OPS
for round in $(seq "$ROUNDS"); do
    for i in "${!NAMES[@]}"; do
        port="${PORTS[$((i + 1))]}"; pid="${GATEWAY_PIDS[$i]}"
        c0="$(cpu_ticks "$pid")"; t0="$(date +%s%N)"
        timeout 120 diodcat -m 1048576 -s "$HOST:$port" -a "$WORK" "/$FILE_NAME" > /dev/null
        t1="$(date +%s%N)"; c1="$(cpu_ticks "$pid")"
        cat_mbs="$(awk -v b="$FILE_BYTES" -v ns="$((t1 - t0))" 'BEGIN { printf "%.1f", b / (ns / 1e9) / 1e6 }')"
        cat_cpu="$(awk -v t="$((c1 - c0))" -v hz="$CLK_TCK" -v b="$FILE_BYTES" 'BEGIN { printf "%.2f", t / hz / (b / 1073741824) }')"
        c0="$(cpu_ticks "$pid")"
        line="$(timeout $(( RUNTIME + 60 )) diodload -n 4 -r "$RUNTIME" -s "$HOST:$port" 2>&1 | tail -1)"
        c1="$(cpu_ticks "$pid")"
        rw_mbs="$(awk '{ print $4 }' <<<"$line")"
        rw_cpu="$(awk -v t="$((c1 - c0))" -v hz="$CLK_TCK" -v m="$rw_mbs" -v s="$RUNTIME" 'BEGIN { printf "%.2f", (m > 0) ? t / hz / (2 * m * s / 1024) : 0 }')"
        ops="-"
        if (( GETATTR )); then
            ops="$(timeout $(( RUNTIME + 60 )) diodload -g -n 4 -r "$RUNTIME" -s "$HOST:$port" 2>&1 | tail -1 | awk '{ print $2 }')"
        fi
        CAT[$i]+="$cat_mbs "; CATCPU[$i]+="$cat_cpu "; RW[$i]+="$rw_mbs "; RWCPU[$i]+="$rw_cpu "; OPS[$i]+="$ops "
        printf 'round %s  %-20s diodcat %7s MB/s %5s CPU-s/GiB | rw %5s MB/s %5s CPU-s/GiB | getattr %s ops/s\n' \
            "$round" "${NAMES[$i]}" "$cat_mbs" "$cat_cpu" "$rw_mbs" "$rw_cpu" "$ops"
    done
done

echo
echo "medians over $ROUNDS rounds:"
for i in "${!NAMES[@]}"; do
    # shellcheck disable=SC2086
    printf '  %-20s diodcat %7s MB/s %5s CPU-s/GiB | rw %5s MB/s %5s CPU-s/GiB | getattr %s ops/s   (%s)\n' "${NAMES[$i]}" \
        "$(median ${CAT[$i]})" "$(median ${CATCPU[$i]})" "$(median ${RW[$i]})" "$(median ${RWCPU[$i]})" \
        "$( (( GETATTR )) && median ${OPS[$i]} || echo -)" "${COMMANDS[$i]}"
done
