#!/usr/bin/env bash
# Benchmarks/splice-threshold.sh — at which payload size does splicing a Rread's or Twrite's data
# (socket → pipe → socket) cost the gateway less CPU than copying it through its buffers? The
# measurement --splice-min's default comes from.
#
# Two gateways in front of one diod, both with --read-ahead off --bridge-msize off --blue off (so
# every payload takes one of the two paths): one copies (--splice-min 0), one splices whatever it
# can (--splice-min 1: any data still in the socket once the head is handled). For each msize
# (the payload is msize - 24 bytes), every round reads SIZE MiB with diodcat -m MSIZE and writes
# SIZE MiB with p9write -M MSIZE (Benchmarks/p9write.c) through each gateway, order rotated, and
# counts the gateway's CPU (utime+stime from /proc/PID/stat) per GiB moved. Medians of the rounds.
# The close lines' bytes_*_zero_copy / bytes_*_copied say how much each one really spliced.
# Appends the table to Benchmarks/RESULTS.md (unless --no-record).
#
#   Benchmarks/splice-threshold.sh [--rounds N] [--size-mib N] [--msizes "4096 8192 …"] [--no-build] [--no-record]
#
# Every step runs under `timeout`; everything started here is stopped by pid on exit.
set -euo pipefail

ROUNDS=5
SIZE_MIB=256
MSIZES="4096 8192 16384 32768 65536"
BUILD=1
RECORD=1
ARGV=("$@")
die() { echo "splice-threshold.sh: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) ROUNDS="${2:?}"; shift 2 ;;
        --size-mib) SIZE_MIB="${2:?}"; shift 2 ;;
        --msizes) MSIZES="${2:?}"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-record) RECORD=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done
for n in "$ROUNDS" "$SIZE_MIB" $MSIZES; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "numbers must be positive integers"; done

. "$(dirname "$0")/lib.sh"
bench_setup logs-splice diod diodcat cc python3 timeout ss awk

build_release "$BUILD"
P9WRITE="$WORK/p9write"
timeout 120 cc -O2 -o "$P9WRITE" "$BENCH/p9write.c" 2> "$LOGS/p9write-build.log" \
    || { cat "$LOGS/p9write-build.log" >&2; die "building p9write failed"; }
EXPORT="$(mktemp -d "$WORK/splice-export.XXXXXX")"; TMP_DIRS+=("$EXPORT")
FILE="$EXPORT/read.bin"
ensure_bench_file "$FILE" $(( SIZE_MIB << 20 ))

read -r DIOD_PORT COPY_PORT SPLICE_PORT <<<"$(free_ports 3)"
diod -f -n -c /dev/null -l "$HOST:$DIOD_PORT" -e "$EXPORT" -L stderr 2> "$LOGS/diod.log" &
DIOD_PID=$!; PIDS+=("$DIOD_PID"); wait_listen "$DIOD_PORT" "$DIOD_PID" diod
COMMON=(--backend "tcp:$HOST:$DIOD_PORT" --read-ahead off --bridge-msize off --blue off)
"$PEBBLE_BIN" serve --listen "$HOST:$COPY_PORT" "${COMMON[@]}" --splice-min 0 > "$LOGS/copy.log" 2>&1 &
COPY_PID=$!; PIDS+=("$COPY_PID"); wait_listen "$COPY_PORT" "$COPY_PID" pebble9p-copy
"$PEBBLE_BIN" serve --listen "$HOST:$SPLICE_PORT" "${COMMON[@]}" --splice-min 1 > "$LOGS/splice.log" 2>&1 &
SPLICE_PID=$!; PIDS+=("$SPLICE_PID"); wait_listen "$SPLICE_PORT" "$SPLICE_PID" pebble9p-splice

declare -A PORT=([copy]=$COPY_PORT [splice]=$SPLICE_PORT) PID=([copy]=$COPY_PID [splice]=$SPLICE_PID)
declare -A READ WRITE   # "path msize" → CPU-s per GiB, one value per round
GIB_MOVED=$(awk -v m="$SIZE_MIB" 'BEGIN { printf "%.6f", m / 1024 }')
per_gib() { awk -v t="$1" -v g="$GIB_MOVED" 'BEGIN { printf "%.3f", t / 100 / g }'; }  # ticks → CPU-s per GiB (CLK_TCK 100)

for round in $(seq "$ROUNDS"); do
    order=(copy splice); (( round % 2 )) || order=(splice copy)
    for msize in $MSIZES; do
        for path in "${order[@]}"; do
            before=$(cpu_ticks "${PID[$path]}")
            timeout 300 diodcat -m "$msize" -s "$HOST:${PORT[$path]}" -a "$EXPORT" /read.bin > /dev/null \
                || die "diodcat -m $msize through $path failed"
            READ["$path $msize"]+="$(per_gib $(( $(cpu_ticks "${PID[$path]}") - before ))) "
            before=$(cpu_ticks "${PID[$path]}")
            timeout 300 "$P9WRITE" -s "$HOST:${PORT[$path]}" -a "$EXPORT" -f write.bin -m "$SIZE_MIB" -M "$msize" > /dev/null \
                || die "p9write -M $msize through $path failed"
            WRITE["$path $msize"]+="$(per_gib $(( $(cpu_ticks "${PID[$path]}") - before ))) "
            rm -f "$EXPORT/write.bin"
        done
    done
    echo "== round $round of $ROUNDS done" >&2
done

# What each gateway really spliced, from its session close lines.
spliced_share() {  # spliced_share LOG: percent of payload bytes spliced over all its sessions
    awk '/session closed/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] += kv[2] } }
         END { z = v["bytes_read_zero_copy"] + v["bytes_written_zero_copy"]; c = v["bytes_read_copied"] + v["bytes_written_copied"];
               if (z + c > 0) printf "%.3f", 100 * z / (z + c); else print "?" }' "$1"
}

TABLE="$LOGS/table.md"
{
    echo "## $(date -u '+%Y-%m-%d %H:%M') UTC — splice or copy: gateway CPU per GiB by payload size — commit $(git -C "$ROOT" rev-parse --short HEAD)"
    echo
    echo "- Machine: nproc $(nproc), $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r); loopback."
    echo "- Invocation: \`Benchmarks/splice-threshold.sh ${ARGV[*]}\` — $ROUNDS round(s), medians; $SIZE_MIB MiB read (diodcat -m MSIZE) and written (p9write -M MSIZE) per measurement."
    echo "- Gateways: \`pebble9p serve --backend tcp:… --read-ahead off --bridge-msize off --blue off\` with \`--splice-min 0\` (copy) or \`--splice-min 1\` (splice whatever is still in the socket after the head); payload = msize − 24."
    echo "- Share of payload bytes the splicing gateway really spliced over the run: $(spliced_share "$LOGS/splice.log") % (the copying one: $(spliced_share "$LOGS/copy.log") %)."
    echo
    echo "| msize | read CPU-s/GiB copy | read splice | splice ÷ copy | write CPU-s/GiB copy | write splice | splice ÷ copy |"
    echo "|---:|---:|---:|---:|---:|---:|---:|"
    for msize in $MSIZES; do
        rc=$(median_of "${READ["copy $msize"]}"); rs=$(median_of "${READ["splice $msize"]}")
        wc=$(median_of "${WRITE["copy $msize"]}"); ws=$(median_of "${WRITE["splice $msize"]}")
        echo "| $msize | $rc | $rs | $(ratio_of "$rs" "$rc") | $wc | $ws | $(ratio_of "$ws" "$wc") |"
    done
    echo
    echo "Raw per-round CPU-s/GiB:"
    for msize in $MSIZES; do
        echo "- msize $msize: read copy [${READ["copy $msize"]% }], splice [${READ["splice $msize"]% }]; write copy [${WRITE["copy $msize"]% }], splice [${WRITE["splice $msize"]% }]"
    done
    echo
} > "$TABLE"
cat "$TABLE"
(( RECORD )) && cat "$TABLE" >> "$RESULTS"
exit 0
