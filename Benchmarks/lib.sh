# Benchmarks/lib.sh — helpers shared by the benchmark scripts (sourced, not run).
# Expects: die(); the functions use HOST and LOGS (bench_setup sets them).

# Everything started goes into PIDS and is stopped by pid on exit.
PIDS=()
PARENT_PIDS=()   # pids whose own children (the exec: row's per-session diods) are stopped too
SOCK_DIR=""
TMP_DIRS=()      # directories (mktemp -d) removed on exit, e.g. the TLS rows' certificates
children_of() { ps -o pid= --ppid "$1" 2>/dev/null || true; }  # pids whose parent is PID
cleanup() {
    local pid kid
    for pid in "${PARENT_PIDS[@]}"; do
        for kid in $(children_of "$pid"); do PIDS+=("$kid"); done
    done
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do
        local alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        (( alive )) || break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    [[ -z "$SOCK_DIR" ]] || rm -rf "$SOCK_DIR"
    local dir
    for dir in "${TMP_DIRS[@]}"; do [[ -z "$dir" ]] || rm -rf "$dir"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# N free TCP ports on 127.0.0.1, all held at once while chosen so they differ.
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# wait_listen PORT PID NAME: until something listens on 127.0.0.1:PORT (without connecting).
wait_listen() {
    local port="$1" pid="$2" name="$3"
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || die "$name (pid $pid) exited; see $LOGS/"
        if [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]; then return 0; fi
        sleep 0.1
    done
    die "$name did not listen on $HOST:$port within 30 s; see $LOGS/"
}

# wait_listen_unix PATH PID NAME: until something listens on the unix socket PATH.
wait_listen_unix() {
    local path="$1" pid="$2" name="$3"
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || die "$name (pid $pid) exited; see $LOGS/"
        if ss -Hlxn 2>/dev/null | awk -v p="$path" '$5 == p { found = 1 } END { exit !found }'; then return 0; fi
        sleep 0.1
    done
    die "$name did not listen on $path within 30 s; see $LOGS/"
}

cpu_ticks() {  # cpu_ticks PID...: utime+stime of the PIDs (all their threads), summed, in clock ticks
    local pid total=0 t
    for pid in "$@"; do
        [[ -r "/proc/$pid/stat" ]] || continue
        t="$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')"
        total=$(( total + ${t:-0} ))
    done
    echo "$total"
}

# ensure_bench_file PATH BYTES: PATH holds BYTES random bytes, and is in the page cache.
ensure_bench_file() {
    local file="$1" bytes="$2"
    if [[ ! -f "$file" ]] || [[ "$(stat -c %s "$file")" -ne "$bytes" ]]; then
        echo "== creating $file ($(( bytes / 1048576 )) MiB of random bytes)" >&2
        timeout 600 head -c "$bytes" /dev/urandom > "$file.tmp"
        mv "$file.tmp" "$file"
    fi
    cat "$file" > /dev/null
}

# stunnel_cfg PORT CONNECT-ADDRESS OPTION-LINES...: a one-service stunnel config that stays in the
# foreground (so the pid started is stunnel's and it is stopped by pid), writes no pid file, and
# logs to stderr only.
stunnel_cfg() {
    local port="$1" connect="$2"; shift 2
    printf '%s\n' \
        "foreground = yes" \
        "pid =" \
        "syslog = no" \
        "debug = 6" \
        "[bench]" \
        "accept = $HOST:$port" \
        "connect = $connect"
    local opt
    for opt in "$@"; do printf '%s\n' "$opt"; done
}

# aes_gcm_core_mbs: MB/s (10^6 bytes) one core encrypts with AES-128-GCM in 16384-byte blocks,
# from `openssl speed -evp aes-128-gcm -seconds 1` (its last column; empty if that failed).
aes_gcm_core_mbs() {
    (timeout 120 openssl speed -evp aes-128-gcm -seconds 1 2>/dev/null || true) \
        | awk '$1 == "AES-128-GCM" { v = $NF; sub(/k$/, "", v); printf "%.0f", v / 1000; exit }'
}

# bench_setup LOGNAME TOOL...: the paths every benchmark uses (ROOT, BENCH, WORK, RESULTS, HOST,
# and LOGS = WORK/LOGNAME, made empty), each TOOL checked, Swift on PATH. Expects die().
bench_setup() {
    local logname="$1" tool; shift
    ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    BENCH="$ROOT/Benchmarks"
    WORK="$BENCH/work"
    LOGS="$WORK/$logname"
    RESULTS="$BENCH/RESULTS.md"
    HOST=127.0.0.1
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool not found: run scripts/setup"
    done
    command -v swift >/dev/null || [[ ! -x /opt/swift/usr/bin/swift ]] || export PATH="$PATH:/opt/swift/usr/bin"
    mkdir -p "$WORK"; rm -rf "$LOGS"; mkdir -p "$LOGS"
}

# build_release BUILD: sets PEBBLE_BIN to $PEBBLE9P_BIN, else .build/release/pebble9p, which is
# built first when BUILD is 1 (and no PEBBLE9P_BIN is given). Expects ROOT.
build_release() {
    PEBBLE_BIN="${PEBBLE9P_BIN:-$ROOT/.build/release/pebble9p}"
    if (( $1 )) && [[ -z "${PEBBLE9P_BIN:-}" ]]; then
        echo "== swift build -c release" >&2
        (cd "$ROOT" && timeout 1800 swift build -c release) > "$LOGS/build.log" 2>&1 \
            || { tail -30 "$LOGS/build.log" >&2; die "release build failed (log: $LOGS/build.log)"; }
    fi
    [[ -x "$PEBBLE_BIN" ]] || die "$PEBBLE_BIN missing"
}

# median_of "N N N": the median of space-separated numbers (the mean of the middle two, one
# decimal, for an even count); ratio_of A B: A ÷ B to three decimals.
median_of() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
