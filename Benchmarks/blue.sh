#!/usr/bin/env bash
# Benchmarks/blue.sh — what Blue writes cost a sequential file write, in one run: the same diod
# reached directly, through pebble9p with --blue off, with --blue on (defaults: a fid holds up to
# 1 MiB of a truncated or new file — 64 MiB of an edit — then streams to the atomic replace's
# hidden temporary, renamed over the file at the clunk), and with --blue on and --blue-max and
# --quota above the file's size (which changes nothing for a truncated file since it streams past
# 1 MiB anyway; the row stays to compare with earlier runs). Each
# round writes SIZE MiB with p9write (Benchmarks/p9write.c, built here with cc: Tlcreate
# O_WRONLY|O_CREAT|O_TRUNC, one Twrite of msize-24 bytes at a time, then Tclunk; the time runs
# from the first Twrite to the Rclunk, so it includes the commit) through every path, order
# rotated; the written file is checked (size and sha256 the same on every path) and removed.
# Medians; blue on ÷ blue off is what counts (target ≥ 0.8). Each round also makes SMALL small
# files (3000 bytes each, one after another: Benchmarks/p9smallfiles.py) directly, with --blue off
# and with --blue on. Appends the tables to Benchmarks/RESULTS.md (unless --no-record).
#
#   Benchmarks/blue.sh [--rounds N] [--size-mib N] [--msize BYTES] [--small N] [--no-build] [--no-record]
#
# Every step runs under `timeout`; everything started here is stopped by pid on exit.
set -euo pipefail

ROUNDS=5
SIZE_MIB=1024
MSIZE=1048576
SMALL=1000
BUILD=1
RECORD=1
ARGV=("$@")
die() { echo "blue.sh: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) ROUNDS="${2:?}"; shift 2 ;;
        --size-mib) SIZE_MIB="${2:?}"; shift 2 ;;
        --msize) MSIZE="${2:?}"; shift 2 ;;
        --small) SMALL="${2:?}"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-record) RECORD=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done
for n in "$ROUNDS" "$SIZE_MIB" "$MSIZE"; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "numbers must be positive integers"; done

. "$(dirname "$0")/lib.sh"
bench_setup logs-blue diod cc python3 timeout ss awk sha256sum

build_release "$BUILD"
P9WRITE="$WORK/p9write"
timeout 120 cc -O2 -o "$P9WRITE" "$BENCH/p9write.c" 2> "$LOGS/p9write-build.log" \
    || { cat "$LOGS/p9write-build.log" >&2; die "building p9write failed"; }
# The files written go to their own directory, removed after each write.
OUT="$(mktemp -d "$WORK/blue-out.XXXXXX")"; TMP_DIRS+=("$OUT")

read -r DIOD_PORT OFF_PORT ON_PORT WHOLE_PORT <<<"$(free_ports 4)"
HOLD_ALL=(--blue on --blue-max "$(( SIZE_MIB * 2 ))M" --quota "$(( SIZE_MIB * 4 ))M")
diod -f -n -c /dev/null -l "$HOST:$DIOD_PORT" -e "$OUT" -L stderr 2> "$LOGS/diod.log" &
DIOD_PID=$!; PIDS+=("$DIOD_PID"); wait_listen "$DIOD_PORT" "$DIOD_PID" diod
"$PEBBLE_BIN" serve --listen "$HOST:$OFF_PORT" --backend "tcp:$HOST:$DIOD_PORT" --blue off > "$LOGS/off.log" 2>&1 &
OFF_PID=$!; PIDS+=("$OFF_PID"); wait_listen "$OFF_PORT" "$OFF_PID" pebble9p-blue-off
"$PEBBLE_BIN" serve --listen "$HOST:$ON_PORT" --backend "tcp:$HOST:$DIOD_PORT" --blue on > "$LOGS/on.log" 2>&1 &
ON_PID=$!; PIDS+=("$ON_PID"); wait_listen "$ON_PORT" "$ON_PID" pebble9p-blue-on
"$PEBBLE_BIN" serve --listen "$HOST:$WHOLE_PORT" --backend "tcp:$HOST:$DIOD_PORT" "${HOLD_ALL[@]}" > "$LOGS/whole.log" 2>&1 &
WHOLE_PID=$!; PIDS+=("$WHOLE_PID"); wait_listen "$WHOLE_PORT" "$WHOLE_PID" pebble9p-blue-whole

NAMES=("direct diod" "pebble9p --blue off" "pebble9p --blue on (streamed to the temporary; atomic)"
       "pebble9p --blue on ${HOLD_ALL[*]:2}")
PORTS=("$DIOD_PORT" "$OFF_PORT" "$ON_PORT" "$WHOLE_PORT")
GATEWAY_PIDS=("" "$OFF_PID" "$ON_PID" "$WHOLE_PID")
N=${#NAMES[@]}
declare -a WRITE PEAK FILES
for ((i = 0; i < N; i++)); do WRITE[$i]=""; PEAK[$i]=0; FILES[$i]=""; done
SMALL_PATHS=3  # direct, --blue off, --blue on
EXPECTED=""

for ((r = 1; r <= ROUNDS; r++)); do
    echo "== round $r of $ROUNDS" >&2
    for ((k = 0; k < N; k++)); do
        i=$(( (k + r - 1) % N ))
        name="write-$r-$i.bin"
        result="$(timeout 900 "$P9WRITE" -s "$HOST:${PORTS[$i]}" -a "$OUT" -f "$name" -m "$SIZE_MIB" -M "$MSIZE")" \
            || die "${NAMES[$i]}: p9write failed"
        mbs="$(sed -n 's/^p9write: \([0-9.]*\) MB\/s$/\1/p' <<<"$result")"
        [[ -n "$mbs" ]] || die "${NAMES[$i]}: p9write printed no rate: $result"
        sum="$(sha256sum "$OUT/$name" | cut -d' ' -f1) $(stat -c %s "$OUT/$name")"
        [[ -z "$EXPECTED" ]] && EXPECTED="$sum"
        [[ "$sum" == "$EXPECTED" ]] || die "${NAMES[$i]}: the file written differs (sha256 and size $sum, expected $EXPECTED)"
        rm -f "$OUT/$name"
        WRITE[$i]+="$mbs "
        if [[ -n "${GATEWAY_PIDS[$i]}" ]]; then
            peak="$(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/${GATEWAY_PIDS[$i]}/status")"
            PEAK[$i]="$peak"
        fi
        printf '   %-60s %8s MB/s\n' "${NAMES[$i]:0:60}" "$mbs" >&2
    done
    for ((k = 0; k < SMALL_PATHS; k++)); do
        i=$(( (k + r - 1) % SMALL_PATHS ))
        dir="$(mktemp -d "$OUT/small-$r-$i.XXXXXX")"
        result="$(timeout 600 python3 "$BENCH/p9smallfiles.py" "$HOST" "${PORTS[$i]}" "$dir" "$SMALL")" \
            || die "${NAMES[$i]}: p9smallfiles failed: $result"
        rate="$(sed -n 's/^p9smallfiles: \([0-9.]*\) files\/s$/\1/p' <<<"$result")"
        [[ -n "$rate" ]] || die "${NAMES[$i]}: p9smallfiles printed no rate: $result"
        rm -rf "$dir"
        FILES[$i]+="$rate "
        printf '   %-60s %8s files/s\n' "${NAMES[$i]:0:60}" "$rate" >&2
    done
done

declare -a M_WRITE M_FILES
for ((i = 0; i < N; i++)); do M_WRITE[$i]="$(median_of "${WRITE[$i]}")"; done
for ((i = 0; i < SMALL_PATHS; i++)); do M_FILES[$i]="$(median_of "${FILES[$i]}")"; done
SMALL_TABLE="| path | small files/s | × direct |
|---|---:|---:|"
for ((i = 0; i < SMALL_PATHS; i++)); do
    SMALL_TABLE+=$'\n'"| ${NAMES[$i]} | ${M_FILES[$i]} | $(ratio_of "${M_FILES[$i]}" "${M_FILES[0]}") |"
done

GIT="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
DIRTY="$(cd "$ROOT" && git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)"
TABLE="| path | write MB/s | × direct | gateway peak RSS MB |
|---|---:|---:|---:|"
for ((i = 0; i < N; i++)); do
    rss="${PEAK[$i]}"; (( i == 0 )) && rss="—"
    TABLE+=$'\n'"| ${NAMES[$i]} | ${M_WRITE[$i]} | $(ratio_of "${M_WRITE[$i]}" "${M_WRITE[0]}") | $rss |"
done
RAW=""
for ((i = 0; i < N; i++)); do RAW+="- ${NAMES[$i]}: MB/s [${WRITE[$i]% }]"$'\n'; done
for ((i = 0; i < SMALL_PATHS; i++)); do RAW+="- ${NAMES[$i]}: small files/s [${FILES[$i]% }]"$'\n'; done
SECTION="## $(date -u '+%Y-%m-%d %H:%M UTC') — Blue writes, sequential write — $(nproc) cores — commit $GIT$DIRTY

- Invocation: \`Benchmarks/blue.sh ${ARGV[*]:-}\` — $ROUNDS round(s), medians, order rotated per round.
- Commands: diod \`diod -f -n -c /dev/null -l 127.0.0.1:DIODPORT -e OUT -L stderr\`; pebble9p
  \`serve --listen 127.0.0.1:P --backend tcp:127.0.0.1:DIODPORT\` with \`--blue off\`, \`--blue on\`, or
  \`${HOLD_ALL[*]}\`.
- Load: \`p9write -s H:P -a OUT -f NAME -m $SIZE_MIB -M $MSIZE\` (Benchmarks/p9write.c): $SIZE_MIB MiB, one
  Twrite at a time, timed from the first Twrite to the Rclunk (the commit included); the file is
  checked (same sha256 and size on every path) and removed.

$TABLE

Blue on ÷ blue off (medians): $(ratio_of "${M_WRITE[2]}" "${M_WRITE[1]}"); with ${HOLD_ALL[*]:2} ÷ blue off:
$(ratio_of "${M_WRITE[3]}" "${M_WRITE[1]}") (target ≥ 0.8).

Small files: \`p9smallfiles.py H P DIR $SMALL\` (Benchmarks/p9smallfiles.py): $SMALL new files of 3000
bytes one after another (Twalk, Tlcreate O_WRONLY|O_CREAT|O_TRUNC, Twrite, Tclunk, each waiting
for its reply), each file's size checked.

$SMALL_TABLE

Small files, blue on ÷ blue off (medians): $(ratio_of "${M_FILES[2]}" "${M_FILES[1]}").

Raw per-round values:
$RAW"
echo "$SECTION"
if (( RECORD )); then printf '\n%s\n' "$SECTION" >> "$RESULTS"; echo "== appended to $RESULTS" >&2; fi
