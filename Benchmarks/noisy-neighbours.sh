#!/usr/bin/env bash
# Benchmarks/noisy-neighbours.sh — what 50 hostile clients cost a well-behaved one, per path:
# one good client alone, then alongside Benchmarks/hostile.py's 50 (fid floods, slowloris,
# max-size writes, request floods, clients that never read), through
#   - pebble9p with budgets (the hostile clients' address gets the default budgets below; the good
#     client's address a client-budget with no rate limit and a 1G quota: a trusted host),
#   - pebble9p --pebble off,
#   - HAProxy (BENCHMARKS.md's config, mode tcp, maxconn 256),
#   - direct diod, for scale.
# The good client: `diodcat -m 1048576 -s H:P -a EXPORT /FILE > /dev/null` of a 1 GiB file, MB/s
# (wall). The hostile clients bind 127.0.0.2, the good one 127.0.0.1: to a gateway they are two
# client addresses. hostile.py runs at nice 19 (--hostile-nice), standing in for clients on other
# machines: its own CPU (a tenth of a core here) is not what a gateway lets attackers cost.
# Medians of the rounds; the ratio noisy ÷ solo per path is what counts (target ≥ 0.90 with
# budgets). Also the gateway's peak RSS (VmHWM) after the noisy rounds.
# Appends the table to Benchmarks/RESULTS.md (unless --no-record).
#
#   Benchmarks/noisy-neighbours.sh [--rounds N] [--clients N] [--hostile-nice N] [--size-mib N] [--no-build] [--no-record]
#
# Every step runs under `timeout`; everything started here is stopped by pid on exit.
set -euo pipefail

ROUNDS=3
CLIENTS=50
NICE=19
SIZE_MIB=1024
BUILD=1
RECORD=1
ARGV=("$@")
die() { echo "noisy-neighbours.sh: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) ROUNDS="${2:?}"; shift 2 ;;
        --clients) CLIENTS="${2:?}"; shift 2 ;;
        --hostile-nice) NICE="${2:?}"; shift 2 ;;
        --size-mib) SIZE_MIB="${2:?}"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-record) RECORD=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done
for n in "$ROUNDS" "$CLIENTS" "$SIZE_MIB"; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "numbers must be positive integers"; done

. "$(dirname "$0")/lib.sh"
bench_setup logs-noisy diod diodcat haproxy python3 timeout ss awk
FILE_NAME="bench-${SIZE_MIB}MiB.bin"
FILE="$WORK/$FILE_NAME"
FILE_BYTES=$(( SIZE_MIB * 1048576 ))

build_release "$BUILD"
ensure_bench_file "$FILE" "$FILE_BYTES"
# The hostile writers' files (hostile-*.bin in the export) are removed after each run.
rm -f "$WORK"/hostile-*.bin

read -r BUDGET_PORT OFF_PORT HA_PORT D0 D1 D2 D3 <<<"$(free_ports 7)"
BUDGETS=(--rate-ops 2000 --rate-bytes 20M --max-fids 256 --quota 64M --frame-timeout 5 --max-conns-per-client 64
         --client-budget "addr:127.0.0.1 rate-ops=0 rate-bytes=0 quota=1G")
# Each path has a diod of its own, so what hostile clients do to one cannot spoil another row.
# diod runs with SIGPIPE ignored, as systemd starts services (IgnoreSIGPIPE=yes): diod 1.0.24
# dies of SIGPIPE (exit 141) when a client that talks to it directly resets its connection while
# diod writes to it, which these hostile clients do within seconds.
DIOD_PORTS=("$D0" "$D1" "$D2" "$D3")
DIOD_PIDS=()
for ((d = 0; d < 4; d++)); do
    ( trap '' PIPE; exec diod -f -n -c /dev/null -l "$HOST:${DIOD_PORTS[$d]}" -e "$WORK" -L stderr ) 2> "$LOGS/diod-$d.log" &
    DIOD_PIDS+=($!); PIDS+=($!); wait_listen "${DIOD_PORTS[$d]}" "$!" "diod-$d"
done
"$PEBBLE_BIN" serve --listen "$HOST:$BUDGET_PORT" --backend "tcp:$HOST:$D0" "${BUDGETS[@]}" > "$LOGS/budgets.log" 2>&1 &
BUDGET_PID=$!; PIDS+=("$BUDGET_PID"); wait_listen "$BUDGET_PORT" "$BUDGET_PID" pebble9p-budgets
"$PEBBLE_BIN" serve --listen "$HOST:$OFF_PORT" --backend "tcp:$HOST:$D1" --pebble off > "$LOGS/off.log" 2>&1 &
OFF_PID=$!; PIDS+=("$OFF_PID"); wait_listen "$OFF_PORT" "$OFF_PID" pebble9p-off
printf '%s\n' global "    maxconn 256" defaults "    mode tcp" "    timeout connect 5s" "    timeout client 10m" \
    "    timeout server 10m" "listen p" "    bind $HOST:$HA_PORT" "    server diod $HOST:$D2" > "$WORK/haproxy-noisy.cfg"
haproxy -db -f "$WORK/haproxy-noisy.cfg" > "$LOGS/haproxy.log" 2>&1 &
HA_PID=$!; PIDS+=("$HA_PID"); wait_listen "$HA_PORT" "$HA_PID" haproxy

NAMES=("pebble9p, budgets on" "pebble9p --pebble off" "HAProxy" "direct diod")
PORTS=("$BUDGET_PORT" "$OFF_PORT" "$HA_PORT" "$D3")
GATEWAY_PIDS=("$BUDGET_PID" "$OFF_PID" "$HA_PID" "")
N=${#NAMES[@]}
declare -a SOLO NOISY HOSTILE_OUT
for ((i = 0; i < N; i++)); do SOLO[$i]=""; NOISY[$i]=""; HOSTILE_OUT[$i]=""; done

# good_read PORT → MB/s of one diodcat of the file: what it read over the time it took, stopped
# after $GOOD_LIMIT s (a client denied service then counts what it got; its port is noted in
# $LOGS/incomplete, and the report counts the cut-off reads per path).
GOOD_LIMIT=60
good_read() {
    local t0 t1 bytes
    t0="$(date +%s%N)"
    bytes="$(timeout "$GOOD_LIMIT" diodcat -m 1048576 -s "$HOST:$1" -a "$WORK" "/$FILE_NAME" 2>> "$LOGS/good.err" | wc -c)" || true
    t1="$(date +%s%N)"
    [[ "$bytes" == "$FILE_BYTES" ]] || echo "$1" >> "$LOGS/incomplete"
    awk -v b="$bytes" -v ns="$((t1 - t0))" 'BEGIN { printf "%.1f", b / (ns / 1e9) / 1e6 }'
}

# Waits (at most 30 s) until the gateways, HAProxy and the diods are idle again (under 2 clock
# ticks of CPU in half a second): what the hostile clients left queued must not weigh on the next
# measurement.
settle() {
    local before after
    for _ in $(seq 60); do
        before="$(cpu_ticks "${DIOD_PIDS[@]}" "$BUDGET_PID" "$OFF_PID" "$HA_PID")"
        sleep 0.5
        after="$(cpu_ticks "${DIOD_PIDS[@]}" "$BUDGET_PID" "$OFF_PID" "$HA_PID")"
        (( after - before < 2 )) && return 0
    done
    echo "   (still busy after 30 s)" >&2
}

echo "== checking each path returns the file intact" >&2
for ((i = 0; i < N; i++)); do
    timeout 300 diodcat -m 1048576 -s "$HOST:${PORTS[$i]}" -a "$WORK" "/$FILE_NAME" | cmp -s - "$FILE" \
        || die "${NAMES[$i]}: diodcat output differs from the file"
done

for ((r = 1; r <= ROUNDS; r++)); do
    echo "== round $r of $ROUNDS" >&2
    for ((k = 0; k < N; k++)); do
        i=$(( (k + r - 1) % N ))
        settle
        solo="$(good_read "${PORTS[$i]}")"
        SOLO[$i]+="$solo "
        # The hostile clients get 2 s to connect and start, and are stopped (by pid) after the read.
        timeout 400 nice -n "$NICE" python3 "$BENCH/hostile.py" --server "$HOST:${PORTS[$i]}" --aname "$WORK" --file "$FILE_NAME" \
            --clients "$CLIENTS" --seconds 300 > "$LOGS/hostile-$i-$r.json" 2> "$LOGS/hostile-$i-$r.err" &
        HOSTILE_PID=$!; PIDS+=("$HOSTILE_PID")
        sleep 2
        noisy="$(good_read "${PORTS[$i]}")"
        kill "$HOSTILE_PID" 2>/dev/null || true; wait "$HOSTILE_PID" 2>/dev/null || true
        NOISY[$i]+="$noisy "
        printf '   %-24s solo %8s MB/s  with %d hostile %8s MB/s\n' "${NAMES[$i]}" "$solo" "$CLIENTS" "$noisy" >&2
        settle
        rm -f "$WORK"/hostile-*.bin
    done
done

rss_kib() { [[ -n "$1" && -r "/proc/$1/status" ]] && awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" || echo "-"; }

DIODS_ALIVE=""
for ((d = 0; d < 4; d++)); do
    if kill -0 "${DIOD_PIDS[$d]}" 2>/dev/null; then DIODS_ALIVE+="${NAMES[$d]}: yes; "; else DIODS_ALIVE+="${NAMES[$d]}: NO; "; fi
done
DIODS_ALIVE="${DIODS_ALIVE%; }"
GIT="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
DIRTY="$(cd "$ROOT" && git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)"
TABLE="| path | solo MB/s | with $CLIENTS hostile MB/s | noisy ÷ solo | peak RSS (VmHWM) |
|---|---:|---:|---:|---:|"
RAW=""
for ((i = 0; i < N; i++)); do
    ms="$(median_of "${SOLO[$i]}")"; mn="$(median_of "${NOISY[$i]}")"
    rss="$(rss_kib "${GATEWAY_PIDS[$i]}")"
    incomplete="$(grep -cx "${PORTS[$i]}" "$LOGS/incomplete" 2>/dev/null || true)"
    TABLE+=$'\n'"| ${NAMES[$i]} | $ms | $mn | $(ratio_of "$mn" "$ms") | ${rss}$([[ "$rss" == "-" ]] || echo " KiB") |"
    RAW+="- ${NAMES[$i]}: solo [${SOLO[$i]% }], noisy [${NOISY[$i]% }]; reads cut off at ${GOOD_LIMIT} s: ${incomplete:-0}"$'\n'
done
SECTION="## $(date -u '+%Y-%m-%d %H:%M UTC') — noisy neighbours — $(nproc) cores — commit $GIT$DIRTY

- Invocation: \`Benchmarks/noisy-neighbours.sh ${ARGV[*]:-}\` — $ROUNDS round(s), medians, order rotated per round.
- Good client (127.0.0.1): \`diodcat -m 1048576 -s H:P -a $WORK /$FILE_NAME > /dev/null\` → MB/s = $FILE_BYTES bytes / wall s / 10^6,
  alone, then 2 s after \`nice -n $NICE python3 Benchmarks/hostile.py --server H:P --clients $CLIENTS\` started ($CLIENTS clients from
  127.0.0.2, in turn: fid flood, slowloris, max-size writes, 64-deep getattr flood, never-reads; each reconnects when closed).
- pebble9p with budgets: \`serve --backend tcp:127.0.0.1:DIODPORT ${BUDGETS[*]}\`; \`--pebble off\` the same
  without budgets; HAProxy: \`haproxy -db -f CFG\` (maxconn 256, mode tcp, no splice option); each path its
  own diod: \`diod -f -n -c /dev/null -l 127.0.0.1:DIODPORT -e $WORK -L stderr\`, started with SIGPIPE ignored
  (as systemd starts services). A good read that fails, or is cut off after ${GOOD_LIMIT} s, counts what it read in that time. diods alive at the end: $DIODS_ALIVE.
- Peak RSS: VmHWM of the gateway process after all rounds (the last hostile run's logs: $LOGS/).

$TABLE

Raw per-round values (MB/s):
$RAW"
echo "$SECTION"
if (( RECORD )); then printf '\n%s\n' "$SECTION" >> "$RESULTS"; echo "== appended to $RESULTS" >&2; fi
