#!/usr/bin/env bash
# Benchmarks/run.sh — pebble9p side by side with direct diod, HAProxy and stunnel, in one run.
#
#   Benchmarks/run.sh [--rounds R] [--only-baselines | --pebble-standin] [--no-build]
#                     [--size-mib N] [--runtime S] [--threads N] [--no-extra-rows] [--no-tls-rows]
#                     [--no-record]
#
# Measures on loopback, for R rounds (default 3; medians reported), interleaving the
# paths inside every round (and rotating their order from round to round):
#   (a) diodcat -m 1048576 -s H:P -a WORK /FILE > /dev/null    of a 1 GiB file  → MB/s (wall)
#   (b) diodload -g -n 4 -r 5 -s H:P                                         → getattr ops/s
#   (c) diodload -n 4 -r 5 -m LOADMSIZE -s H:P                               → read/write MB/s
# over these paths, all in front of one diod (which exports WORK and `ctl`):
#   direct diod
#   pebble9p   .build/release/pebble9p serve --listen 127.0.0.1:P --backend tcp:127.0.0.1:DIODPORT
#              (msize bridging and read-ahead on, the defaults)
#   pebble9p, bridging and read-ahead off: the same with --bridge-msize off --read-ahead off
#   HAProxy tcp mode, no splice option (its strongest getattr row), and the same with nbthread 4
#              (as many threads as pebble9p's default loops here: one per core, at least 4)
#   HAProxy tcp mode, option splice-auto
#   HAProxy tcp mode, option splice-request + option splice-response (its strongest rw row)
# then, with other backend transports (ratios still vs direct diod over TCP):
#   pebble9p → diod unix socket   (the same diod also listens on SOCK: diod -l …:DIODPORT -l SOCK)
#              .build/release/pebble9p serve --listen 127.0.0.1:P --backend unix:SOCK
#   HAProxy → diod unix socket    server diod unix@SOCK, option splice-request + splice-response
#              (HAProxy 2.6 does splice client TCP ↔ unix socket; splice-auto makes no splice
#              calls on 9P traffic there either, so forced splice is its strongest setup)
#   pebble9p, embedded diod per session (exec: socketpair)
#              .build/release/pebble9p serve --listen 127.0.0.1:P --backend \
#                  "exec:exec diod -n -c /dev/null -L stderr -r 0 -w 1 -e WORK -e ctl"
#              one diod per client connection (a deployment comparison, not the same server
#              setup as direct diod); its CPU column counts pebble9p's CPU only
# then, over TLS (a client-side process speaking plain 9P on loopback, TLS to a server-side
# process in front of diod; ratios still vs direct diod; the CPU column sums BOTH processes):
#   stunnel client → stunnel server (TLS 1.3, AES-128-GCM, client certificate)
#              server: accept P2, connect DIODPORT, sslVersionMin TLSv1.3, ciphersuites
#                      TLS_AES_128_GCM_SHA256, cert/key server, CAfile ca, verifyChain, requireCert
#              client: client = yes, accept P1, connect P2, the same version and ciphersuite,
#                      CAfile ca, verifyChain, checkHost localhost, cert/key alice
#   pebble9p tunnel → pebble9p serve (TLS 1.3, AES-128-GCM, client certificate)
#              .build/release/pebble9p serve --tls-listen 127.0.0.1:P2 --tls-cert server.pem \
#                  --tls-key server.key --client-ca ca.pem --tls-ciphersuites TLS_AES_128_GCM_SHA256 \
#                  --backend tcp:127.0.0.1:DIODPORT
#              .build/release/pebble9p tunnel --listen 127.0.0.1:P1 --connect 127.0.0.1:P2 \
#                  --server-name localhost --ca ca.pem --cert alice.pem --key alice.key
#   two plain relays, no TLS: HAProxy → HAProxy → diod (tcp, no splice: HAProxy's strongest
#              getattr setup; nbthread 4, as many threads as the pebble9p pair's loops): what
#              the two extra loopback hops cost a fast relay pair without any TLS
#   (certificates from certs/make-dev-certs.sh in a mktemp -d directory, removed at exit), with
#   the pebble9p ÷ stunnel ratios (and the plain pair's) under the table and one core's
#   `openssl speed -evp aes-128-gcm`
# and each proxy's CPU seconds (utime+stime, /proc/PID/stat) over the diodcat runs, per GiB, and
# the machine's idle share (/proc/stat) during every diodload run (raw values): where the direct
# run leaves no core idle, a relay's own CPU can only come out of the client's and the server's.
# Appends a markdown table (with date, machine, commit and the exact commands) to
# Benchmarks/RESULTS.md and prints it.
#
#   --only-baselines   skip pebble9p (and its build): direct + the HAProxy rows (+ the stunnel row)
#   --pebble-standin   serve the "pebble9p" rows with plain HAProxies (tcp, no splice) and say
#                      so in the table: tests this script before pebble9p can serve (the
#                      exec: and TLS pebble9p rows have no stand-in and are skipped)
#   --no-build         use the existing .build/release/pebble9p (default: swift build -c release)
#   --size-mib N       size of the diodcat file (default 1024)
#   --runtime S        diodload seconds per run (default 5); --threads N (default 4)
#   --load-msize N     msize diodload's read/write asks for (default 65536, diodload's own; diod
#                      caps at 65536, so only a gateway that bridges msize gives it more)
#   --no-extra-rows    only the first four paths (no unix-socket and exec: rows)
#   --no-tls-rows      no TLS rows (stunnel pair, pebble9p tunnel → serve)
#   --no-record        print the table, do not append it to Benchmarks/RESULTS.md
#   PEBBLE9P_BIN=PATH  benchmark that binary instead (no build; the table names it)
#
# Every step runs under `timeout`; everything started here is stopped by pid on exit.
set -euo pipefail

ROUNDS=3
ONLY_BASELINES=0
STANDIN=0
BUILD=1
SIZE_MIB=1024
RUNTIME=5
THREADS=4
LOAD_MSIZE=65536
RECORD=1
EXTRA=1
TLS=1
ARGV=("$@")

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "run.sh: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) ROUNDS="${2:?}"; shift 2 ;;
        --only-baselines) ONLY_BASELINES=1; shift ;;
        --pebble-standin) STANDIN=1; shift ;;
        --no-build) BUILD=0; shift ;;
        --size-mib) SIZE_MIB="${2:?}"; shift 2 ;;
        --runtime) RUNTIME="${2:?}"; shift 2 ;;
        --threads) THREADS="${2:?}"; shift 2 ;;
        --load-msize) LOAD_MSIZE="${2:?}"; shift 2 ;;
        --no-record) RECORD=0; shift ;;
        --no-extra-rows) EXTRA=0; shift ;;
        --no-tls-rows) TLS=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds wants a positive integer"
[[ "$SIZE_MIB" =~ ^[1-9][0-9]*$ ]] || die "--size-mib wants a positive integer"
[[ "$RUNTIME" =~ ^[1-9][0-9]*$ ]] || die "--runtime wants a positive integer"
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || die "--threads wants a positive integer"
[[ "$LOAD_MSIZE" =~ ^[1-9][0-9]*$ ]] || die "--load-msize wants a positive integer"
(( ONLY_BASELINES && STANDIN )) && die "--only-baselines and --pebble-standin exclude each other"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="$ROOT/Benchmarks"
WORK="$BENCH/work"                       # git-ignored
LOGS="$WORK/logs"
RESULTS="$BENCH/RESULTS.md"
HOST=127.0.0.1
FILE_NAME="bench-${SIZE_MIB}MiB.bin"
FILE="$WORK/$FILE_NAME"
FILE_BYTES=$(( SIZE_MIB * 1048576 ))
CLK_TCK="$(getconf CLK_TCK)"

for tool in diod diodcat diodload haproxy python3 timeout ss awk cmp ps; do
    command -v "$tool" >/dev/null || die "$tool not found: run scripts/setup (apt-get install -y diod haproxy python3-venv)"
done
if (( TLS )); then
    for tool in stunnel openssl; do
        command -v "$tool" >/dev/null || die "$tool not found: run scripts/setup (apt-get install -y stunnel4 openssl), or use --no-tls-rows"
    done
fi
command -v swift >/dev/null || [[ ! -x /opt/swift/usr/bin/swift ]] || export PATH="$PATH:/opt/swift/usr/bin"

mkdir -p "$WORK"
rm -rf "$LOGS"
mkdir -p "$LOGS"

# Process bookkeeping (PIDS, cleanup on exit), free_ports, wait_listen, wait_listen_unix, cpu_ticks,
# ensure_bench_file: shared with compare.sh.
. "$BENCH/lib.sh"

# ---------------------------------------------------------------- build + data
PEBBLE_BIN="${PEBBLE9P_BIN:-$ROOT/.build/release/pebble9p}"
(( ONLY_BASELINES || STANDIN )) || build_release "$BUILD"

ensure_bench_file "$FILE" "$FILE_BYTES"

# ---------------------------------------------------------------- servers and proxies
read -r DIOD_PORT PEB_PORT PEB_PLAIN_PORT HA_PLAIN_PORT HA_AUTO_PORT HA_SPLICE_PORT PEB_UNIX_PORT HA_UNIX_PORT PEB_EXEC_PORT \
    ST_CLIENT_PORT ST_SERVER_PORT PT_CLIENT_PORT PT_SERVER_PORT PAIR_CLIENT_PORT PAIR_SERVER_PORT HA_THREADS_PORT <<<"$(free_ports 16)"

DIOD_CMD=(diod -f -n -c /dev/null -l "$HOST:$DIOD_PORT")
if (( EXTRA )); then
    # The unix socket lives in a fresh directory under /tmp (short path: sun_path holds 108 bytes).
    SOCK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/pebble9p-bench.XXXXXX")"
    SOCK="$SOCK_DIR/diod.sock"
    DIOD_CMD+=(-l "$SOCK")
fi
DIOD_CMD+=(-e "$WORK" -e ctl -L stderr)
"${DIOD_CMD[@]}" 2> "$LOGS/diod.log" &
DIOD_PID=$!; PIDS+=("$DIOD_PID")
wait_listen "$DIOD_PORT" "$DIOD_PID" diod
(( ! EXTRA )) || wait_listen_unix "$SOCK" "$DIOD_PID" diod

haproxy_cfg() {  # haproxy_cfg PORT SERVER-ADDRESS OPTION-LINES... (HAPROXY_GLOBAL: one more global line)
    local port="$1" server="$2"; shift 2
    printf '%s\n' \
        "global" \
        "    maxconn 256"
    [[ -z "${HAPROXY_GLOBAL:-}" ]] || printf '    %s\n' "$HAPROXY_GLOBAL"
    printf '%s\n' \
        "defaults" \
        "    mode tcp" \
        "    timeout connect 5s" \
        "    timeout client 10m" \
        "    timeout server 10m" \
        "listen p" \
        "    bind $HOST:$port" \
        "    server diod $server"
    local opt
    for opt in "$@"; do printf '    %s\n' "$opt"; done
}

start_haproxy() {  # start_haproxy NAME PORT SERVER-ADDRESS OPTION-LINES... ; sets STARTED_PID
    local name="$1" port="$2" server="$3"; shift 3
    local cfg="$WORK/haproxy-$name.cfg"
    haproxy_cfg "$port" "$server" "$@" > "$cfg"
    haproxy -c -q -f "$cfg" > "$LOGS/haproxy-$name.check" 2>&1 \
        || { cat "$LOGS/haproxy-$name.check" >&2; die "bad HAProxy config $cfg"; }
    haproxy -db -f "$cfg" > "$LOGS/haproxy-$name.log" 2>&1 &
    STARTED_PID=$!; PIDS+=("$STARTED_PID")
    wait_listen "$port" "$STARTED_PID" "haproxy-$name"
}

start_pebble() {  # start_pebble NAME PORT BACKEND [FLAGS...] ; sets STARTED_PID
    local name="$1" port="$2" backend="$3"; shift 3
    "$PEBBLE_BIN" serve --listen "$HOST:$port" --backend "$backend" "$@" > "$LOGS/$name.log" 2>&1 &
    STARTED_PID=$!; PIDS+=("$STARTED_PID")
    wait_listen "$port" "$STARTED_PID" "$name"
}

start_stunnel() {  # start_stunnel NAME PORT CONNECT-ADDRESS OPTION-LINES... ; sets STARTED_PID
    local name="$1" port="$2" connect="$3"; shift 3
    local cfg="$WORK/stunnel-$name.conf"
    stunnel_cfg "$port" "$connect" "$@" > "$cfg"
    stunnel "$cfg" > "$LOGS/stunnel-$name.log" 2>&1 &
    STARTED_PID=$!; PIDS+=("$STARTED_PID")
    wait_listen "$port" "$STARTED_PID" "stunnel-$name"
}

# Paths: parallel arrays (name, port, pids of the proxy — two for the TLS rows, "" for direct —,
# CPU-column note). SEP_BEFORE[I]: a separator row printed before path I in the table.
P_NAME=(); P_PORT=(); P_PID=(); P_CPU_NOTE=()
declare -A SEP_BEFORE=()
add_path() { P_NAME+=("$1"); P_PORT+=("$2"); P_PID+=("$3"); P_CPU_NOTE+=("${4:-}"); }

add_path "direct diod" "$DIOD_PORT" ""

PEB_REL="${PEBBLE_BIN#"$ROOT"/}"
PEBBLE_DESC=""
if (( STANDIN )); then
    start_haproxy standin "$PEB_PORT" "$HOST:$DIOD_PORT"
    add_path "pebble9p STAND-IN (HAProxy tcp, no splice)" "$PEB_PORT" "$STARTED_PID"
    PEBBLE_DESC="pebble9p row served by a stand-in: \`haproxy -db -f CFG\` (tcp, no splice option) — not pebble9p"
elif (( ! ONLY_BASELINES )); then
    start_pebble pebble9p "$PEB_PORT" "tcp:$HOST:$DIOD_PORT"
    add_path "pebble9p (msize bridging + read-ahead)" "$PEB_PORT" "$STARTED_PID"
    start_pebble pebble9p-plain "$PEB_PLAIN_PORT" "tcp:$HOST:$DIOD_PORT" --bridge-msize off --read-ahead off
    add_path "pebble9p, bridging and read-ahead off" "$PEB_PLAIN_PORT" "$STARTED_PID"
    PEBBLE_DESC="pebble9p: \`$PEB_REL serve --listen 127.0.0.1:P --backend tcp:127.0.0.1:DIODPORT\` (the defaults: msize bridging, read-ahead, Blue on);
    bridging and read-ahead off: the same with \`--bridge-msize off --read-ahead off\`"
else
    PEBBLE_DESC="pebble9p: skipped (--only-baselines)"
fi

start_haproxy no-splice "$HA_PLAIN_PORT" "$HOST:$DIOD_PORT"
add_path "HAProxy tcp, no splice" "$HA_PLAIN_PORT" "$STARTED_PID"
# As many threads as pebble9p's default loops on a small machine (one per core, at least 4).
HAPROXY_GLOBAL="nbthread 4" start_haproxy no-splice-4 "$HA_THREADS_PORT" "$HOST:$DIOD_PORT"
add_path "HAProxy tcp, no splice, \`nbthread 4\`" "$HA_THREADS_PORT" "$STARTED_PID"
start_haproxy splice-auto "$HA_AUTO_PORT" "$HOST:$DIOD_PORT" "option splice-auto"
add_path "HAProxy tcp, \`option splice-auto\`" "$HA_AUTO_PORT" "$STARTED_PID"
start_haproxy splice-both "$HA_SPLICE_PORT" "$HOST:$DIOD_PORT" "option splice-request" "option splice-response"
add_path "HAProxy tcp, \`option splice-request\` + \`option splice-response\`" "$HA_SPLICE_PORT" "$STARTED_PID"

# Other backend transports: the same diod over its unix socket, and pebble9p starting its own
# diod per client connection on a socketpair. Ratios stay relative to direct diod over TCP.
EXTRA_DESC=""
if (( EXTRA )); then
    SEP_BEFORE[${#P_NAME[@]}]="*other backend transports (× still vs direct diod over TCP):*"
    EXEC_BACKEND="exec:exec diod -n -c /dev/null -L stderr -r 0 -w 1 -e $WORK -e ctl"
    if (( STANDIN )); then
        start_haproxy standin-unix "$PEB_UNIX_PORT" "unix@$SOCK"
        add_path "pebble9p STAND-IN (HAProxy tcp, no splice) → diod unix socket" "$PEB_UNIX_PORT" "$STARTED_PID"
        EXTRA_DESC+="
  - pebble9p → diod unix socket row served by a stand-in: \`haproxy -db -f CFG\` with \`server diod unix@SOCK\`, no splice option — not pebble9p
  - pebble9p exec: row: skipped (--pebble-standin has no stand-in for it)"
    elif (( ! ONLY_BASELINES )); then
        start_pebble pebble9p-unix "$PEB_UNIX_PORT" "unix:$SOCK"
        add_path "pebble9p → diod unix socket" "$PEB_UNIX_PORT" "$STARTED_PID"
        EXTRA_DESC+="
  - pebble9p → diod unix socket: \`$PEB_REL serve --listen 127.0.0.1:P --backend unix:SOCK\`"
    else
        EXTRA_DESC+="
  - pebble9p → diod unix socket and pebble9p exec: rows: skipped (--only-baselines)"
    fi
    start_haproxy unix "$HA_UNIX_PORT" "unix@$SOCK" "option splice-request" "option splice-response"
    add_path "HAProxy tcp → diod unix socket, \`option splice-request\` + \`option splice-response\`" \
        "$HA_UNIX_PORT" "$STARTED_PID"
    EXTRA_DESC+="
  - HAProxy → diod unix socket: CFG with \`server diod unix@SOCK\` plus \`option splice-request\` + \`option splice-response\`
    (HAProxy 2.6 accepts \`option splice-auto\` there too but, as over TCP, makes no splice call on 9P traffic with it;
    forced splice does splice between the client's TCP socket and the unix socket)"
    if (( ! STANDIN && ! ONLY_BASELINES )); then
        start_pebble pebble9p-exec "$PEB_EXEC_PORT" "$EXEC_BACKEND"
        PARENT_PIDS+=("$STARTED_PID")
        add_path "pebble9p, embedded diod per session (exec: socketpair)" "$PEB_EXEC_PORT" "$STARTED_PID" \
            " (pebble9p only)"
        EXTRA_DESC+="
  - pebble9p, embedded diod per session: \`$PEB_REL serve --listen 127.0.0.1:P --backend \"exec:exec diod -n -c /dev/null -L stderr -r 0 -w 1 -e $WORK -e ctl\"\`.
    pebble9p starts one diod per client connection on a socketpair (diodcat: 1, \`diodload -n $THREADS\`: $THREADS), each
    started and stopped inside the measurement, where direct diod is one long-running server: a deployment
    comparison, not the same server setup. Its CPU column counts pebble9p's own CPU only (utime+stime of the
    pebble9p pid, not of its diod children), since the diods are the server's share"
    fi
    EXTRA_DESC+="
  - SOCK: a unix socket in a fresh \`mktemp -d\` directory, on which the one diod also listens (\`-l SOCK\`)"
fi

# TLS: a client-side process (plain 9P in on loopback) and a server-side one (TLS in, plain 9P to
# diod), both on this machine; TLS 1.3 with AES-128-GCM only, and a client certificate required.
# The CPU column sums both processes. Ratios stay relative to direct diod over TCP.
ST_IDX=""; PT_IDX=""; PAIR_IDX=""; TLS_DESC=""; AES_MBS=""
TLS_CIPHER=TLS_AES_128_GCM_SHA256
if (( TLS )); then
    CERT_DIR="$(mktemp -d "${TMPDIR:-/tmp}/pebble9p-bench-certs.XXXXXX")"
    TMP_DIRS+=("$CERT_DIR")
    timeout 120 "$ROOT/certs/make-dev-certs.sh" "$CERT_DIR" > "$LOGS/certs.log" 2>&1 \
        || { cat "$LOGS/certs.log" >&2; die "certs/make-dev-certs.sh failed"; }
    SEP_BEFORE[${#P_NAME[@]}]="*TLS 1.3 on loopback, client-side process → server-side process → diod (× still vs direct diod over TCP; CPU column: both processes summed):*"

    start_stunnel server "$ST_SERVER_PORT" "$HOST:$DIOD_PORT" \
        "sslVersionMin = TLSv1.3" "ciphersuites = $TLS_CIPHER" \
        "cert = $CERT_DIR/server.pem" "key = $CERT_DIR/server.key" \
        "CAfile = $CERT_DIR/ca.pem" "verifyChain = yes" "requireCert = yes"
    st_server_pid=$STARTED_PID
    start_stunnel client "$ST_CLIENT_PORT" "$HOST:$ST_SERVER_PORT" \
        "client = yes" "sslVersionMin = TLSv1.3" "ciphersuites = $TLS_CIPHER" \
        "CAfile = $CERT_DIR/ca.pem" "verifyChain = yes" "checkHost = localhost" \
        "cert = $CERT_DIR/alice.pem" "key = $CERT_DIR/alice.key"
    ST_IDX=${#P_NAME[@]}
    add_path "stunnel client → stunnel server (TLS 1.3, AES-128-GCM, client certificate)" \
        "$ST_CLIENT_PORT" "$STARTED_PID $st_server_pid" " (both ends)"
    TLS_DESC+="
  - stunnel: \`stunnel CFG\` for each end, CFG = \`foreground = yes\`, \`pid =\`, \`syslog = no\`, \`debug = 6\` and one service:
    server \`accept = 127.0.0.1:P2\`, \`connect = 127.0.0.1:DIODPORT\`, \`sslVersionMin = TLSv1.3\`, \`ciphersuites = $TLS_CIPHER\`,
    \`cert = server.pem\`, \`key = server.key\`, \`CAfile = ca.pem\`, \`verifyChain = yes\`, \`requireCert = yes\`;
    client \`client = yes\`, \`accept = 127.0.0.1:P1\`, \`connect = 127.0.0.1:P2\`, the same version and ciphersuite,
    \`CAfile = ca.pem\`, \`verifyChain = yes\`, \`checkHost = localhost\`, \`cert = alice.pem\`, \`key = alice.key\`
    (BENCHMARKS.md's \`verifyPeer = yes\` checks the peer's certificate against ones stored locally, so with a CA in
    CAfile it refuses the server: verifyChain + checkHost is what \`pebble9p tunnel --ca --server-name\` checks)"

    if (( ! STANDIN && ! ONLY_BASELINES )); then
        "$PEBBLE_BIN" serve --tls-listen "$HOST:$PT_SERVER_PORT" \
            --tls-cert "$CERT_DIR/server.pem" --tls-key "$CERT_DIR/server.key" \
            --client-ca "$CERT_DIR/ca.pem" --tls-ciphersuites "$TLS_CIPHER" \
            --backend "tcp:$HOST:$DIOD_PORT" > "$LOGS/pebble9p-tls-serve.log" 2>&1 &
        pt_server_pid=$!; PIDS+=("$pt_server_pid")
        wait_listen "$PT_SERVER_PORT" "$pt_server_pid" pebble9p-tls-serve
        "$PEBBLE_BIN" tunnel --listen "$HOST:$PT_CLIENT_PORT" --connect "$HOST:$PT_SERVER_PORT" \
            --server-name localhost --ca "$CERT_DIR/ca.pem" \
            --cert "$CERT_DIR/alice.pem" --key "$CERT_DIR/alice.key" > "$LOGS/pebble9p-tunnel.log" 2>&1 &
        pt_client_pid=$!; PIDS+=("$pt_client_pid")
        wait_listen "$PT_CLIENT_PORT" "$pt_client_pid" pebble9p-tunnel
        PT_IDX=${#P_NAME[@]}
        add_path "pebble9p tunnel → pebble9p serve (TLS 1.3, AES-128-GCM, client certificate)" \
            "$PT_CLIENT_PORT" "$pt_client_pid $pt_server_pid" " (both ends)"
        TLS_DESC+="
  - pebble9p TLS: \`$PEB_REL serve --tls-listen 127.0.0.1:P2 --tls-cert server.pem --tls-key server.key --client-ca ca.pem
    --tls-ciphersuites $TLS_CIPHER --backend tcp:127.0.0.1:DIODPORT\` and \`$PEB_REL tunnel --listen 127.0.0.1:P1
    --connect 127.0.0.1:P2 --server-name localhost --ca ca.pem --cert alice.pem --key alice.key\` (default loops: one per core, at least 4,
    each)"
    else
        TLS_DESC+="
  - pebble9p tunnel → serve: skipped ($( (( STANDIN )) && echo "--pebble-standin has no stand-in for it" || echo "--only-baselines"))"
    fi
    # The same two hops with no TLS and the fastest byte relay at each end: no pair of relay
    # processes on this machine can beat it, so it bounds what any TLS pair can reach here.
    # Four threads each, as the pebble9p pair runs four loops each here: with HAProxy's default
    # (one per core) two of the four diodload connections share a thread and the pair is slower.
    HAPROXY_GLOBAL="nbthread 4" start_haproxy pair-server "$PAIR_SERVER_PORT" "$HOST:$DIOD_PORT"
    pair_server_pid=$STARTED_PID
    HAPROXY_GLOBAL="nbthread 4" start_haproxy pair-client "$PAIR_CLIENT_PORT" "$HOST:$PAIR_SERVER_PORT"
    PAIR_IDX=${#P_NAME[@]}
    add_path "two plain relays, no TLS: HAProxy → HAProxy (tcp, no splice, nbthread 4)" \
        "$PAIR_CLIENT_PORT" "$STARTED_PID $pair_server_pid" " (both ends)"
    TLS_DESC+="
  - two plain relays: two \`haproxy -db -f CFG\` (tcp, no splice option, \`nbthread 4\` in \`global\`), the client-side
    one's \`server\` the server-side one's port, whose \`server\` is diod: the same two extra loopback hops as the TLS
    rows, without TLS"
    TLS_DESC+="
  - certificates: \`certs/make-dev-certs.sh DIR\` (EC P-256; server.pem carries localhost/127.0.0.1; client alice) in a
    fresh \`mktemp -d\` directory; each row's server side logs the negotiated protocol and cipher, checked to be
    TLSv1.3 / $TLS_CIPHER after the first connection
  - the CPU column of the TLS rows sums utime+stime of both processes (client side + server side)"
fi

NPATHS=${#P_NAME[@]}

# ---------------------------------------------------------------- measurements
declare -a CAT GETATTR RW RWW CPU_TICKS CAT_BYTES FAILED IDLE_GA IDLE_RW
for ((i = 0; i < NPATHS; i++)); do
    CAT[$i]=""; GETATTR[$i]=""; RW[$i]=""; RWW[$i]=""; CPU_TICKS[$i]=0; CAT_BYTES[$i]=0; FAILED[$i]=""
    IDLE_GA[$i]=""; IDLE_RW[$i]=""
done

# The machine's idle and total jiffies so far (/proc/stat's cpu line: idle + iowait count as idle).
machine_jiffies() { awk '$1 == "cpu" { t = 0; for (k = 2; k <= 9; k++) t += $k; print $5 + $6, t; exit }' /proc/stat; }

fail_path() {  # fail_path I WHAT
    echo "   FAILED: ${P_NAME[$1]}: $2" >&2
    FAILED[$1]="${FAILED[$1]:+${FAILED[$1]}; }$2"
}

check_alive() {  # check_alive I — the path's proxy and diod must still run
    kill -0 "$DIOD_PID" 2>/dev/null || die "diod died; see $LOGS/diod.log"
    local pid
    for pid in ${P_PID[$1]}; do
        kill -0 "$pid" 2>/dev/null || { fail_path "$1" "proxy (pid $pid) exited"; return 1; }
    done
}

measure_cat() {  # measure_cat I ROUND
    local i="$1" r="$2" port="${P_PORT[$1]}" pid="${P_PID[$1]}" c0=0 c1=0 t0 t1 rc=0
    check_alive "$i" || return 0
    [[ -z "$pid" ]] || c0="$(cpu_ticks $pid)"   # unquoted: the TLS rows have two pids
    t0="$(date +%s%N)"
    timeout 300 diodcat -m 1048576 -s "$HOST:$port" -a "$WORK" "/$FILE_NAME" > /dev/null \
        2>> "$LOGS/diodcat-$i.log" || rc=$?
    t1="$(date +%s%N)"
    [[ -z "$pid" ]] || c1="$(cpu_ticks $pid)"
    if (( rc != 0 )); then fail_path "$i" "diodcat exit $rc (round $r)"; return 0; fi
    local mbs
    mbs="$(awk -v b="$FILE_BYTES" -v ns="$((t1 - t0))" 'BEGIN { printf "%.1f", b / (ns / 1e9) / 1e6 }')"
    CAT[$i]+="$mbs "
    CPU_TICKS[$i]=$(( CPU_TICKS[$i] + c1 - c0 ))
    CAT_BYTES[$i]=$(( CAT_BYTES[$i] + FILE_BYTES ))
    printf '   %-62s diodcat %8s MB/s\n' "${P_NAME[$i]}" "$mbs" >&2
}

# diodload prints "diodload: N ops/s, R rMB/s, W wMB/s" on stderr.
measure_load() {  # measure_load I ROUND getattr|rw
    local i="$1" r="$2" kind="$3" port="${P_PORT[$1]}" rc=0 out line
    check_alive "$i" || return 0
    local args=(-n "$THREADS" -r "$RUNTIME" -s "$HOST:$port")
    [[ "$kind" == getattr ]] && args=(-g "${args[@]}") || args=(-m "$LOAD_MSIZE" "${args[@]}")
    out="$LOGS/diodload-$kind-$i-r$r.log"
    local idle0 total0 idle1 total1 idle
    read -r idle0 total0 <<<"$(machine_jiffies)"
    timeout $(( RUNTIME + 60 )) diodload "${args[@]}" > "$out" 2>&1 || rc=$?
    read -r idle1 total1 <<<"$(machine_jiffies)"
    idle="$(awk -v i=$(( idle1 - idle0 )) -v t=$(( total1 - total0 )) 'BEGIN { printf "%.0f", (t > 0 ? 100 * i / t : 0) }')"
    line="$(sed -n 's/.*diodload: \([0-9.]*\) ops\/s, \([0-9.]*\) rMB\/s, \([0-9.]*\) wMB\/s.*/\1 \2 \3/p' "$out" | tail -1)"
    if (( rc != 0 )) || [[ -z "$line" ]]; then
        fail_path "$i" "diodload $kind exit $rc (round $r): $(tail -1 "$out")"; return 0
    fi
    local ops rmb wmb
    read -r ops rmb wmb <<<"$line"
    if [[ "$kind" == getattr ]]; then
        GETATTR[$i]+="$ops "; IDLE_GA[$i]+="$idle "
        printf '   %-62s getattr %8s ops/s  (machine idle %s%%)\n' "${P_NAME[$i]}" "$ops" "$idle" >&2
    else
        RW[$i]+="$rmb "; RWW[$i]+="$wmb "; IDLE_RW[$i]+="$idle "
        printf '   %-62s rw      %8s rMB/s %s wMB/s  (machine idle %s%%)\n' "${P_NAME[$i]}" "$rmb" "$wmb" "$idle" >&2
    fi
}

echo "== verifying every path returns the file intact (also warms caches)" >&2
for ((i = 0; i < NPATHS; i++)); do
    if ! timeout 300 diodcat -m 1048576 -s "$HOST:${P_PORT[$i]}" -a "$WORK" "/$FILE_NAME" \
            2>> "$LOGS/diodcat-$i.log" | cmp -s - "$FILE"; then
        fail_path "$i" "diodcat output differs from the file (or diodcat failed)"
    fi
done

# The TLS rows must have negotiated TLS 1.3 with AES-128-GCM: their logs say what they did.
tls_check() {  # tls_check I LOG PATTERN
    [[ -n "$1" && -z "${FAILED[$1]}" ]] || return 0
    grep -q -- "$3" "$2" 2>/dev/null || fail_path "$1" "no TLSv1.3 $TLS_CIPHER session in $2"
}
if (( TLS )); then
    # stunnel 5.68 at debug 6: "TLSv1.3 ciphersuite: TLS_AES_128_GCM_SHA256 (128-bit encryption)"
    tls_check "$ST_IDX" "$LOGS/stunnel-server.log" "TLSv1.3 ciphersuite: $TLS_CIPHER"
    tls_check "$ST_IDX" "$LOGS/stunnel-client.log" "TLSv1.3 ciphersuite: $TLS_CIPHER"
    # pebble9p serve: "... cipher=TLS_AES_128_GCM_SHA256 identity=... protocol=TLSv1.3 [Gateway] TLS established"
    tls_check "$PT_IDX" "$LOGS/pebble9p-tls-serve.log" "cipher=$TLS_CIPHER .*protocol=TLSv1.3"
    echo "== openssl speed -evp aes-128-gcm -seconds 1 (one core)" >&2
    AES_MBS="$(aes_gcm_core_mbs)"
    echo "   AES-128-GCM, 16384-byte blocks: ${AES_MBS:-?} MB/s" >&2
fi

for ((r = 1; r <= ROUNDS; r++)); do
    order=()
    for ((k = 0; k < NPATHS; k++)); do order+=($(( (k + r - 1) % NPATHS ))); done
    echo "== round $r/$ROUNDS (order: ${order[*]})" >&2
    for i in "${order[@]}"; do [[ -n "${FAILED[$i]}" ]] || measure_cat "$i" "$r"; done
    for i in "${order[@]}"; do [[ -n "${FAILED[$i]}" ]] || measure_load "$i" "$r" getattr; done
    for i in "${order[@]}"; do [[ -n "${FAILED[$i]}" ]] || measure_load "$i" "$r" rw; done
done

# ---------------------------------------------------------------- report
median() {  # median of the numbers in $1 (space separated); empty if none
    [[ -n "${1// /}" ]] || { echo ""; return; }
    printf '%s\n' $1 | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
fmt0() { [[ -n "$1" ]] && awk -v x="$1" 'BEGIN { printf "%.0f", x }' || echo "—"; }
ratio() { [[ -n "$1" && -n "$2" ]] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "—" }' || echo "—"; }

D_CAT="$(median "${CAT[0]}")"; D_GA="$(median "${GETATTR[0]}")"; D_RW="$(median "${RW[0]}")"

TABLE="| path | diodcat MB/s | getattr ops/s | rw MB/s | × direct (cat / getattr / rw) | proxy CPU-s per GiB read |
|---|---:|---:|---:|---|---:|"
RAW=""
ANY_FAILED=0
declare -a M_CAT M_GA M_RW M_CPU
for ((i = 0; i < NPATHS; i++)); do
    m_cat="$(median "${CAT[$i]}")"; m_ga="$(median "${GETATTR[$i]}")"; m_rw="$(median "${RW[$i]}")"
    if [[ -z "${P_PID[$i]}" ]]; then
        cpu="0"
    elif (( CAT_BYTES[$i] > 0 )); then
        cpu="$(awk -v t="${CPU_TICKS[$i]}" -v hz="$CLK_TCK" -v b="${CAT_BYTES[$i]}" 'BEGIN { printf "%.2f", (t / hz) / (b / 1073741824) }')"
    else
        cpu="—"
    fi
    [[ "$cpu" == "—" ]] || cpu+="${P_CPU_NOTE[$i]}"
    name="${P_NAME[$i]}"
    if [[ -n "${FAILED[$i]}" ]]; then name="$name (FAILED: ${FAILED[$i]})"; ANY_FAILED=1; fi
    if [[ -n "${SEP_BEFORE[$i]:-}" ]]; then
        TABLE+="
| ${SEP_BEFORE[$i]} | | | | | |"
    fi
    M_CAT[$i]="$m_cat"; M_GA[$i]="$m_ga"; M_RW[$i]="$m_rw"; M_CPU[$i]="${cpu%% *}"
    TABLE+="
| $name | $(fmt0 "$m_cat") | $(fmt0 "$m_ga") | $(fmt0 "$m_rw") | $(ratio "$m_cat" "$D_CAT") / $(ratio "$m_ga" "$D_GA") / $(ratio "$m_rw" "$D_RW") | $cpu |"
    RAW+="
- ${P_NAME[$i]}: diodcat MB/s [${CAT[$i]% }], getattr ops/s [${GETATTR[$i]% }], rw rMB/s [${RW[$i]% }] (wMB/s [${RWW[$i]% }]), proxy CPU ticks over diodcat ${CPU_TICKS[$i]}${P_CPU_NOTE[$i]} at $CLK_TCK/s, machine idle % during getattr [${IDLE_GA[$i]% }] and rw [${IDLE_RW[$i]% }]"
done

# pebble9p's TLS row ÷ the stunnel row, per measurement and on CPU per GiB (both ends each).
TLS_SUMMARY=""
if (( TLS )); then
    TLS_SUMMARY="
Per-core crypto limit: \`openssl speed -evp aes-128-gcm -seconds 1\`, 16384-byte blocks: ${AES_MBS:-?} MB/s on one core"
    if [[ -n "$AES_MBS" ]]; then
        TLS_SUMMARY+=" (AES-128-GCM alone: $(awk -v m="$AES_MBS" 'BEGIN { printf "%.2f", 1073.741824 / m }') CPU-s per GiB per end, $(awk -v m="$AES_MBS" 'BEGIN { printf "%.2f", 2 * 1073.741824 / m }') for both ends)"
    fi
    TLS_SUMMARY+=".
"
    if [[ -n "$PT_IDX" ]]; then
        cpu_ratio="—"
        if [[ "${M_CPU[$ST_IDX]}" =~ ^[0-9.]+$ && "${M_CPU[$PT_IDX]}" =~ ^[0-9.]+$ ]]; then
            cpu_ratio="$(ratio "${M_CPU[$PT_IDX]}" "${M_CPU[$ST_IDX]}")"
        fi
        TLS_SUMMARY+="
pebble9p tunnel → serve ÷ stunnel client → server (TLS rows, medians): diodcat $(ratio "${M_CAT[$PT_IDX]}" "${M_CAT[$ST_IDX]}") /
getattr $(ratio "${M_GA[$PT_IDX]}" "${M_GA[$ST_IDX]}") / rw $(ratio "${M_RW[$PT_IDX]}" "${M_RW[$ST_IDX]}") (above 1: pebble9p faster); CPU-s per GiB read, both ends: $cpu_ratio
(below 1: pebble9p uses less CPU; ${M_CPU[$PT_IDX]} against ${M_CPU[$ST_IDX]}).
"
    fi
    if [[ -n "$PAIR_IDX" ]]; then
        TLS_SUMMARY+="
Two plain relays (no TLS) ÷ stunnel client → server: diodcat $(ratio "${M_CAT[$PAIR_IDX]}" "${M_CAT[$ST_IDX]}") /
getattr $(ratio "${M_GA[$PAIR_IDX]}" "${M_GA[$ST_IDX]}") / rw $(ratio "${M_RW[$PAIR_IDX]}" "${M_RW[$ST_IDX]}"): what the same two loopback hops leave room for
without any TLS (a TLS pair of byte relays makes the same hops and encrypts besides).
"
    fi
fi

COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then COMMIT+=" (with uncommitted changes)"; fi
CPU_MODEL="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
[[ -n "$CPU_MODEL" ]] || CPU_MODEL="$(uname -m)"
MEM_GIB="$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
DIOD_VER="$(dpkg-query -W -f='${Version}' diod 2>/dev/null || echo '?')"
HAPROXY_VER="$(haproxy -v 2>/dev/null | awk 'NR == 1 { print $3 }')"
SWIFT_VER="$( (swift --version 2>/dev/null || true) | awk 'NR == 1 { print; exit }')"
DIOD_SOCK_ARG=""; (( ! EXTRA )) || DIOD_SOCK_ARG=" -l SOCK"
WHEN="$(date -u '+%Y-%m-%d %H:%M UTC')"
TLS_VERSIONS=""
if (( TLS )); then
    STUNNEL_VER="$( (stunnel -version 2>&1 || true) | awk '$1 == "stunnel" { print $2; exit }')"
    OPENSSL_VER="$(openssl version 2>/dev/null | awk '{ print $2 }')"
    TLS_VERSIONS=", stunnel ${STUNNEL_VER:-?}, OpenSSL ${OPENSSL_VER:-?}"
fi

REPORT="
## $WHEN — $(nproc) cores, $CPU_MODEL, kernel $(uname -r) — commit $COMMIT

- Machine: nproc $(nproc), CPU \"$CPU_MODEL\", ${MEM_GIB} GiB RAM, kernel $(uname -r); loopback.
- Versions: diod $DIOD_VER, HAProxy $HAPROXY_VER, ${SWIFT_VER:-swift ?}$TLS_VERSIONS.
- Invocation: \`Benchmarks/run.sh ${ARGV[*]}\` — $ROUNDS round(s), medians; in each round every
  path runs each measurement in turn (order rotated per round). File: $SIZE_MIB MiB of random
  bytes, in the page cache, checked with \`cmp\` through every path first.
- Commands (H:P = the path's address; DIODPORT = diod's):
  - diod: \`diod -f -n -c /dev/null -l 127.0.0.1:DIODPORT$DIOD_SOCK_ARG -e $WORK -e ctl -L stderr\`
  - $PEBBLE_DESC
  - HAProxy: \`haproxy -db -f CFG\`, CFG = BENCHMARKS.md's config (maxconn 256; mode tcp; timeouts
    5s/10m/10m; \`listen p\` bind 127.0.0.1:P, \`server diod 127.0.0.1:DIODPORT\`) plus the row's options (\`nbthread 4\`:
    in \`global\`; HAProxy's default is one thread per core).$EXTRA_DESC$TLS_DESC
  - (a) \`diodcat -m 1048576 -s H:P -a $WORK /$FILE_NAME > /dev/null\` → MB/s = $FILE_BYTES bytes / wall s / 10^6
  - (b) \`diodload -g -n $THREADS -r $RUNTIME -s H:P\` → getattr ops/s
  - (c) \`diodload -m $LOAD_MSIZE -n $THREADS -r $RUNTIME -s H:P\` → rMB/s as diodload prints it (it prints equal wMB/s; raw values below)
  - proxy CPU-s per GiB: utime+stime of the proxy pid (TLS rows: of both pids) from /proc/PID/stat before/after
    each diodcat run, summed over the rounds, / CLK_TCK ($CLK_TCK) / GiB read. Direct diod: 0 by definition.

$TABLE
$TLS_SUMMARY
Raw per-round values:$RAW
"

echo "$REPORT"
if (( RECORD )); then
    if [[ ! -f "$RESULTS" ]]; then
        printf '# Benchmark results\n\nAppended by `Benchmarks/run.sh` (see Benchmarks/README.md). Ratios inside one run are\nwhat mean something: the machines are shared and noisy.\n' > "$RESULTS"
    fi
    printf '%s' "$REPORT" >> "$RESULTS"
    echo "run.sh: appended to $RESULTS" >&2
fi
(( ANY_FAILED == 0 )) || die "some paths failed (see the table and $LOGS/)"
