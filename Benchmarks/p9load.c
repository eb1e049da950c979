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

#define TOOL "p9load"
#include "p9wire.h"

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
