#!/usr/bin/env bash
# Benchmarks/delay.sh — large reads over a link with added delay between the client and the
# server side: where a gateway that bridges msize and reads ahead should beat a direct connection.
#
# These machines have no netem (`tc qdisc add dev lo root netem delay 2ms` in a network namespace
# answers "Specified qdisc kind is unknown"), so the delay is made in user space: delayrelay
# (Benchmarks/delayrelay.c, built here with cc) holds every byte DELAY µs in each direction (the
# default 1000: 2 ms added to every round trip), as the link between client and proxy. Paths, each
# behind its own delayrelay, in front of one diod:
#   direct diod                     client → delay → diod
#   pebble9p (defaults)             client → delay → pebble9p serve → diod (msize bridging, read-ahead)
#   pebble9p, bridging + read-ahead off   … serve --bridge-msize off --read-ahead off
#   HAProxy tcp, no splice          client → delay → haproxy → diod
# Each round reads SIZE MiB with `diodcat -m 1048576` through every path (order rotated); MB/s,
# medians, × direct. Appends the table to Benchmarks/RESULTS.md (unless --no-record).
#
#   Benchmarks/delay.sh [--rounds N] [--size-mib N] [--delay-us N] [--no-build] [--no-record]
#
# Every step runs under `timeout`; everything started here is stopped by pid on exit.
set -euo pipefail

ROUNDS=5
SIZE_MIB=256
DELAY_US=1000
BUILD=1
RECORD=1
ARGV=("$@")
die() { echo "delay.sh: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) ROUNDS="${2:?}"; shift 2 ;;
        --size-mib) SIZE_MIB="${2:?}"; shift 2 ;;
        --delay-us) DELAY_US="${2:?}"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-record) RECORD=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done
for n in "$ROUNDS" "$SIZE_MIB" "$DELAY_US"; do [[ "$n" =~ ^[0-9]+$ ]] || die "numbers must be non-negative integers"; done

. "$(dirname "$0")/lib.sh"
bench_setup logs-delay diod diodcat haproxy cc python3 timeout ss awk cmp

build_release "$BUILD"
RELAY="$WORK/delayrelay"
timeout 120 cc -O2 -pthread -o "$RELAY" "$BENCH/delayrelay.c" 2> "$LOGS/delayrelay-build.log" \
    || { cat "$LOGS/delayrelay-build.log" >&2; die "building delayrelay failed"; }
FILE_NAME="delay-${SIZE_MIB}MiB.bin"
ensure_bench_file "$WORK/$FILE_NAME" $(( SIZE_MIB << 20 ))

read -r DIOD_PORT PEB_PORT PLAIN_PORT HA_PORT R_DIRECT R_PEB R_PLAIN R_HA <<<"$(free_ports 8)"
diod -f -n -c /dev/null -l "$HOST:$DIOD_PORT" -e "$WORK" -L stderr 2> "$LOGS/diod.log" &
DIOD_PID=$!; PIDS+=("$DIOD_PID"); wait_listen "$DIOD_PORT" "$DIOD_PID" diod
"$PEBBLE_BIN" serve --listen "$HOST:$PEB_PORT" --backend "tcp:$HOST:$DIOD_PORT" > "$LOGS/pebble9p.log" 2>&1 &
pid=$!; PIDS+=("$pid"); wait_listen "$PEB_PORT" "$pid" pebble9p
"$PEBBLE_BIN" serve --listen "$HOST:$PLAIN_PORT" --backend "tcp:$HOST:$DIOD_PORT" --bridge-msize off --read-ahead off \
    > "$LOGS/pebble9p-plain.log" 2>&1 &
pid=$!; PIDS+=("$pid"); wait_listen "$PLAIN_PORT" "$pid" pebble9p-plain
printf '%s\n' global "    maxconn 256" defaults "    mode tcp" "    timeout connect 5s" "    timeout client 10m" \
    "    timeout server 10m" "listen p" "    bind $HOST:$HA_PORT" "    server diod $HOST:$DIOD_PORT" > "$LOGS/haproxy.cfg"
haproxy -db -f "$LOGS/haproxy.cfg" > "$LOGS/haproxy.log" 2>&1 &
pid=$!; PIDS+=("$pid"); wait_listen "$HA_PORT" "$pid" haproxy
for pair in "$R_DIRECT:$DIOD_PORT" "$R_PEB:$PEB_PORT" "$R_PLAIN:$PLAIN_PORT" "$R_HA:$HA_PORT"; do
    "$RELAY" -l "${pair%%:*}" -c "$HOST:${pair##*:}" -d "$DELAY_US" > "$LOGS/relay-${pair%%:*}.log" 2>&1 &
    pid=$!; PIDS+=("$pid"); wait_listen "${pair%%:*}" "$pid" "delayrelay ${pair%%:*}"
done

NAMES=("direct diod" "pebble9p (msize bridging + read-ahead)" "pebble9p, bridging and read-ahead off" "HAProxy tcp, no splice")
PORTS=("$R_DIRECT" "$R_PEB" "$R_PLAIN" "$R_HA")
declare -a MBS
echo "== checking every path returns the file intact" >&2
for i in "${!PORTS[@]}"; do
    timeout 600 diodcat -m 1048576 -s "$HOST:${PORTS[$i]}" -a "$WORK" "/$FILE_NAME" | cmp -s - "$WORK/$FILE_NAME" \
        || die "${NAMES[$i]}: diodcat through it does not give the file back"
    MBS[$i]=""
done
for round in $(seq "$ROUNDS"); do
    for k in "${!PORTS[@]}"; do
        i=$(( (k + round - 1) % ${#PORTS[@]} ))
        t0=$(date +%s%N)
        timeout 600 diodcat -m 1048576 -s "$HOST:${PORTS[$i]}" -a "$WORK" "/$FILE_NAME" > /dev/null || die "${NAMES[$i]}: diodcat failed"
        t1=$(date +%s%N)
        mbs=$(awk -v b=$(( SIZE_MIB << 20 )) -v ns=$(( t1 - t0 )) 'BEGIN { printf "%.1f", b / (ns / 1e9) / 1e6 }')
        MBS[$i]+="$mbs "
        printf '   %-45s %8s MB/s\n' "${NAMES[$i]}" "$mbs" >&2
    done
done

DIRECT=$(median_of "${MBS[0]}")
TABLE="$LOGS/table.md"
{
    echo "## $(date -u '+%Y-%m-%d %H:%M') UTC — large reads over a link with $(( 2 * DELAY_US )) µs added per round trip — commit $(git -C "$ROOT" rev-parse --short HEAD)"
    echo
    echo "- Machine: nproc $(nproc), $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r); loopback."
    echo "- Invocation: \`Benchmarks/delay.sh ${ARGV[*]}\` — $ROUNDS round(s), medians, order rotated. No netem here: the delay is"
    echo "  \`delayrelay -d $DELAY_US\` (Benchmarks/delayrelay.c: every byte held $DELAY_US µs each way) between the client and each path."
    echo "- Measurement: \`diodcat -m 1048576 -s RELAY -a WORK /$FILE_NAME > /dev/null\` ($SIZE_MIB MiB, page cache) → MB/s. diod caps msize at 65536."
    echo
    echo "| path (each behind its own delayrelay) | diodcat MB/s | × direct |"
    echo "|---|---:|---:|"
    for i in "${!PORTS[@]}"; do
        m=$(median_of "${MBS[$i]}")
        echo "| ${NAMES[$i]} | $m | $(ratio_of "$m" "$DIRECT") |"
    done
    echo
    echo "Raw MB/s per round:"
    for i in "${!PORTS[@]}"; do echo "- ${NAMES[$i]}: [${MBS[$i]% }]"; done
    echo
} > "$TABLE"
cat "$TABLE"
(( RECORD )) && cat "$TABLE" >> "$RESULTS"
exit 0
