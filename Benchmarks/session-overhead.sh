#!/usr/bin/env bash
# Benchmarks/session-overhead.sh — what budgets and a capability token cost a session, in one run:
# three pebble9p gateways in front of the same diod — budgets off (--pebble off), budgets on with
# limits that never bind (so every check runs), and budgets on with a token session — and the
# same two loads through each, rounds rotated:
#   (a) diodcat -m 1048576 -s H:P -a ANAME /FILE > /dev/null   of a 1 GiB file → MB/s (wall)
#   (b) p9load -n 4 -r 5 -s H:P -a ANAME                        → getattr ops/s
# ANAME is the export's path, or for the token gateway a token (path = /, rights = lr). p9load (Benchmarks/p9load.c, built here with cc) is `diodload -g` with a chosen aname:
# diodload always attaches "ctl" and cannot present a token. Direct diod (same loads, aname the
# export) is measured alongside for scale. Medians; the ratios against budgets off are what count.
# Appends the table to Benchmarks/RESULTS.md (unless --no-record).
#
#   Benchmarks/session-overhead.sh [--rounds N] [--size-mib N] [--runtime S] [--threads N] [--no-build] [--no-record]
#
# Every step runs under `timeout`; everything started here is stopped by pid on exit.
set -euo pipefail

ROUNDS=5
SIZE_MIB=1024
RUNTIME=5
THREADS=4
BUILD=1
RECORD=1
ARGV=("$@")
die() { echo "session-overhead.sh: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) ROUNDS="${2:?}"; shift 2 ;;
        --size-mib) SIZE_MIB="${2:?}"; shift 2 ;;
        --runtime) RUNTIME="${2:?}"; shift 2 ;;
        --threads) THREADS="${2:?}"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-record) RECORD=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done
for n in "$ROUNDS" "$SIZE_MIB" "$RUNTIME" "$THREADS"; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "numbers must be positive integers"; done

. "$(dirname "$0")/lib.sh"
bench_setup logs-token diod diodcat cc python3 timeout ss awk
FILE_NAME="bench-${SIZE_MIB}MiB.bin"
FILE="$WORK/$FILE_NAME"
FILE_BYTES=$(( SIZE_MIB * 1048576 ))

build_release "$BUILD"
P9LOAD="$WORK/p9load"
timeout 120 cc -O2 -pthread -o "$P9LOAD" "$BENCH/p9load.c" 2> "$LOGS/p9load-build.log" \
    || { cat "$LOGS/p9load-build.log" >&2; die "building p9load failed"; }
ensure_bench_file "$FILE" "$FILE_BYTES"

KEYS_DIR="$(mktemp -d "${TMPDIR:-/tmp}/pebble9p-token-bench.XXXXXX")"; TMP_DIRS+=("$KEYS_DIR")
KEYS="$KEYS_DIR/token.keys"
"$PEBBLE_BIN" token keygen --key-file "$KEYS" --kid bench > /dev/null
TOKEN="$("$PEBBLE_BIN" token mint --key-file "$KEYS" --kid bench --caveat 'path = /' --caveat 'rights = lr')"

read -r DIOD_PORT PLAIN_PORT BUDGET_PORT TOKEN_PORT <<<"$(free_ports 4)"
# Limits far above what the loads reach: every budget check runs, none binds.
BUDGETS=(--rate-ops 10000000 --rate-bytes 100G --max-conns-per-client 1000 --frame-timeout 60 --backend-timeout 600 --quota 256M --max-memory 64G)
diod -f -n -c /dev/null -l "$HOST:$DIOD_PORT" -e "$WORK" -L stderr 2> "$LOGS/diod.log" &
DIOD_PID=$!; PIDS+=("$DIOD_PID"); wait_listen "$DIOD_PORT" "$DIOD_PID" diod
"$PEBBLE_BIN" serve --listen "$HOST:$PLAIN_PORT" --backend "tcp:$HOST:$DIOD_PORT" --pebble off > "$LOGS/plain.log" 2>&1 &
PLAIN_PID=$!; PIDS+=("$PLAIN_PID"); wait_listen "$PLAIN_PORT" "$PLAIN_PID" pebble9p-plain
"$PEBBLE_BIN" serve --listen "$HOST:$BUDGET_PORT" --backend "tcp:$HOST:$DIOD_PORT" "${BUDGETS[@]}" > "$LOGS/budgets.log" 2>&1 &
BUDGET_PID=$!; PIDS+=("$BUDGET_PID"); wait_listen "$BUDGET_PORT" "$BUDGET_PID" pebble9p-budgets
"$PEBBLE_BIN" serve --listen "$HOST:$TOKEN_PORT" --backend "tcp:$HOST:$DIOD_PORT" "${BUDGETS[@]}" --token-keys "$KEYS" \
    --require-token --backend-aname "$WORK" > "$LOGS/token.log" 2>&1 &
TOKEN_PID=$!; PIDS+=("$TOKEN_PID"); wait_listen "$TOKEN_PORT" "$TOKEN_PID" pebble9p-token

NAMES=("direct diod" "pebble9p --pebble off" "pebble9p, budgets on (limits that never bind)"
       "pebble9p, budgets on, token session (aname = token: path = /, rights = lr; --require-token)")
PORTS=("$DIOD_PORT" "$PLAIN_PORT" "$BUDGET_PORT" "$TOKEN_PORT")
ANAMES=("$WORK" "$WORK" "$WORK" "$TOKEN")
N=${#NAMES[@]}
declare -a CAT GETATTR
for ((i = 0; i < N; i++)); do CAT[$i]=""; GETATTR[$i]=""; done

echo "== checking each path returns the file intact" >&2
for ((i = 0; i < N; i++)); do
    timeout 300 diodcat -m 1048576 -s "$HOST:${PORTS[$i]}" -a "${ANAMES[$i]}" "/$FILE_NAME" | cmp -s - "$FILE" \
        || die "${NAMES[$i]}: diodcat output differs from the file"
done

for ((r = 1; r <= ROUNDS; r++)); do
    echo "== round $r of $ROUNDS" >&2
    for ((k = 0; k < N; k++)); do
        i=$(( (k + r - 1) % N ))
        t0="$(date +%s%N)"
        timeout 300 diodcat -m 1048576 -s "$HOST:${PORTS[$i]}" -a "${ANAMES[$i]}" "/$FILE_NAME" > /dev/null
        t1="$(date +%s%N)"
        mbs="$(awk -v b="$FILE_BYTES" -v ns="$((t1 - t0))" 'BEGIN { printf "%.1f", b / (ns / 1e9) / 1e6 }')"
        CAT[$i]+="$mbs "
        ops="$(timeout $(( RUNTIME + 60 )) "$P9LOAD" -n "$THREADS" -r "$RUNTIME" -s "$HOST:${PORTS[$i]}" -a "${ANAMES[$i]}" \
            | sed -n 's/^p9load: \([0-9]*\) ops\/s$/\1/p')"
        [[ -n "$ops" ]] || die "${NAMES[$i]}: p9load failed"
        GETATTR[$i]+="$ops "
        printf '   %-40s diodcat %8s MB/s  getattr %8s ops/s\n' "${NAMES[$i]:0:40}" "$mbs" "$ops" >&2
    done
done

declare -a M_CAT M_GET
for ((i = 0; i < N; i++)); do M_CAT[$i]="$(median_of "${CAT[$i]}")"; M_GET[$i]="$(median_of "${GETATTR[$i]}")"; done

GIT="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
DIRTY="$(cd "$ROOT" && git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)"
TABLE="| path | diodcat MB/s | getattr ops/s (p9load) |
|---|---:|---:|"
for ((i = 0; i < N; i++)); do TABLE+=$'\n'"| ${NAMES[$i]} | ${M_CAT[$i]} | ${M_GET[$i]} |"; done
RAW=""
for ((i = 0; i < N; i++)); do RAW+="- ${NAMES[$i]}: diodcat MB/s [${CAT[$i]% }], getattr ops/s [${GETATTR[$i]% }]"$'\n'; done
SECTION="## $(date -u '+%Y-%m-%d %H:%M UTC') — budgets and token overhead — $(nproc) cores — commit $GIT$DIRTY

- Invocation: \`Benchmarks/session-overhead.sh ${ARGV[*]:-}\` — $ROUNDS round(s), medians, order rotated per round.
- Commands (H:P = the path's address): diod \`diod -f -n -c /dev/null -l 127.0.0.1:DIODPORT -e $WORK -L stderr\`;
  pebble9p \`serve --listen 127.0.0.1:P --backend tcp:127.0.0.1:DIODPORT --pebble off\`; budgets on:
  \`${BUDGETS[*]}\` instead of \`--pebble off\`; the token gateway adds
  \`--token-keys KEYS --require-token --backend-aname $WORK\` to those; the token is
  \`pebble9p token mint --key-file KEYS --kid bench --caveat 'path = /' --caveat 'rights = lr'\`.
- (a) \`diodcat -m 1048576 -s H:P -a ANAME /$FILE_NAME > /dev/null\` → MB/s = $FILE_BYTES bytes / wall s / 10^6;
  (b) \`p9load -n $THREADS -r $RUNTIME -s H:P -a ANAME\` (Benchmarks/p9load.c, \`cc -O2 -pthread\`) → getattr ops/s.
  ANAME: the export's path, or the token.

$TABLE

Budgets on ÷ off (medians): diodcat $(ratio_of "${M_CAT[2]}" "${M_CAT[1]}"), getattr $(ratio_of "${M_GET[2]}" "${M_GET[1]}");
token session (budgets on) ÷ budgets on: diodcat $(ratio_of "${M_CAT[3]}" "${M_CAT[2]}"), getattr $(ratio_of "${M_GET[3]}" "${M_GET[2]}")
(targets: ≥ 0.95 on all four).

Raw per-round values:
$RAW"
echo "$SECTION"
if (( RECORD )); then printf '\n%s\n' "$SECTION" >> "$RESULTS"; echo "== appended to $RESULTS" >&2; fi
