/*
 * p9load: a 9P2000.L getattr load with a chosen aname, for the token benchmark
 * (Benchmarks/session-overhead.sh). diodload attaches with the aname "ctl" and cannot present a
 * capability token; this does what `diodload -g` does with any aname: N threads, each its own
 * connection, Tversion + Tattach, then Tgetattr on the attached fid, one at a time, for R seconds.
 *
 *   p9load -s HOST:PORT -a ANAME [-n THREADS] [-r SECONDS]
 *
 * Prints "p9load: N ops/s" on stdout. Exit 1 with a reason on any error.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char host[256];
static int port;
static const char *aname = "";
static int seconds = 5;

static void die(const char *what) {
    fprintf(stderr, "p9load: %s\n", what);
    exit(1);
}

static void put32(uint8_t *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static void put16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }
static uint32_t get32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* Appends a 9P string; returns the new length. */
static size_t putstr(uint8_t *p, size_t at, const char *s) {
    size_t n = strlen(s);
    put16(p + at, (uint16_t)n);
    memcpy(p + at + 2, s, n);
    return at + 2 + n;
}

static void sendall(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) die("write failed");
        p += w;
        n -= (size_t)w;
    }
}

static void readall(int fd, uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0) die("connection closed");
        p += r;
        n -= (size_t)r;
    }
}

/* Sends `req` (its size field filled here) and reads one reply into `rep`; returns its type. */
static int rpc(int fd, uint8_t *req, size_t n, uint8_t *rep, size_t cap) {
    put32(req, (uint32_t)n);
    sendall(fd, req, n);
    readall(fd, rep, 4);
    uint32_t size = get32(rep);
    if (size < 7 || size > cap) die("bad reply size");
    readall(fd, rep + 4, size - 4);
    return rep[4];
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void *worker(void *arg) {
    long *ops = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("host must be an IPv4 address");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("connect failed");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    static __thread uint8_t req[16384], rep[65536];

    req[4] = 100; put16(req + 5, 0xFFFF); put32(req + 7, 65536);                 /* Tversion */
    size_t n = putstr(req, 11, "9P2000.L");
    if (rpc(fd, req, n, rep, sizeof rep) != 101) die("no Rversion");

    req[4] = 104; put16(req + 5, 1); put32(req + 7, 1); put32(req + 11, ~0u);   /* Tattach */
    n = putstr(req, 15, "bench");
    n = putstr(req, n, aname);
    put32(req + n, 0); n += 4;
    if (rpc(fd, req, n, rep, sizeof rep) != 105) die("attach refused");

    req[4] = 24; put16(req + 5, 1); put32(req + 7, 1); put64(req + 11, 0x7ff);  /* Tgetattr */
    double end = now() + seconds;
    long count = 0;
    while (now() < end) {
        if (rpc(fd, req, 19, rep, sizeof rep) != 25) die("getattr failed");
        count++;
    }
    close(fd);
    *ops = count;
    return NULL;
}

int main(int argc, char **argv) {
    int threads = 4, c;
    const char *server = NULL;
    while ((c = getopt(argc, argv, "s:a:n:r:")) != -1) {
        switch (c) {
        case 's': server = optarg; break;
        case 'a': aname = optarg; break;
        case 'n': threads = atoi(optarg); break;
        case 'r': seconds = atoi(optarg); break;
        default: die("usage: p9load -s HOST:PORT -a ANAME [-n THREADS] [-r SECONDS]");
        }
    }
    if (!server || threads < 1 || threads > 256 || seconds < 1) die("usage: p9load -s HOST:PORT -a ANAME [-n THREADS] [-r SECONDS]");
    const char *colon = strrchr(server, ':');
    if (!colon || (size_t)(colon - server) >= sizeof host) die("server must be HOST:PORT");
    memcpy(host, server, (size_t)(colon - server));
    port = atoi(colon + 1);

    pthread_t tids[256];
    long ops[256] = {0};
    double start = now();
    for (int i = 0; i < threads; i++) pthread_create(&tids[i], NULL, worker, &ops[i]);
    long total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        total += ops[i];
    }
    printf("p9load: %.0f ops/s\n", total / (now() - start));
    return 0;
}
