/*
 * p9write: a sequential 9P2000.L file write, for the Blue benchmark (Benchmarks/blue.sh). diodcat
 * only reads, and diodload writes to diod's ctl files, not to a regular file: this writes MIB MiB
 * to NAME in the attach point (Tlcreate with O_WRONLY|O_CREAT|O_TRUNC), one Twrite of BLOCK bytes
 * at a time as the Linux client does without a cache, then clunks the fid (which is when pebble9p
 * with --blue on commits) and removes nothing.
 *
 *   p9write -s HOST:PORT -a ANAME -f NAME [-m MIB] [-M MSIZE]
 *
 * Prints "p9write: N MB/s" (10^6 bytes per second, first Twrite to Rclunk) on stdout. Exit 1 with
 * a reason on any error.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TOOL "p9write"
#include "p9wire.h"

int main(int argc, char **argv) {
    const char *server = NULL, *aname = "", *name = NULL;
    long mib = 1024;
    uint32_t msize = 1 << 20;
    int c;
    while ((c = getopt(argc, argv, "s:a:f:m:M:")) != -1) {
        switch (c) {
        case 's': server = optarg; break;
        case 'a': aname = optarg; break;
        case 'f': name = optarg; break;
        case 'm': mib = atol(optarg); break;
        case 'M': msize = (uint32_t)atol(optarg); break;
        default: die("usage: p9write -s HOST:PORT -a ANAME -f NAME [-m MIB] [-M MSIZE]");
        }
    }
    if (!server || !name || mib < 1 || msize < 4096) die("usage: p9write -s HOST:PORT -a ANAME -f NAME [-m MIB] [-M MSIZE]");
    char host[256];
    const char *colon = strrchr(server, ':');
    if (!colon || (size_t)(colon - server) >= sizeof host) die("server must be HOST:PORT");
    memcpy(host, server, (size_t)(colon - server));
    host[colon - server] = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("host must be an IPv4 address");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("connect failed");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint8_t *req = malloc(msize), rep[8192];
    if (!req) die("out of memory");

    req[4] = 100; put16(req + 5, 0xFFFF); put32(req + 7, msize);                 /* Tversion */
    size_t n = putstr(req, 11, "9P2000.L");
    if (rpc(fd, req, n, rep, sizeof rep) != 101) die("no Rversion");
    msize = get32(rep + 7);
    uint32_t block = msize - 24;                                                  /* P9_IOHDRSZ */

    req[4] = 104; put16(req + 5, 1); put32(req + 7, 1); put32(req + 11, ~0u);   /* Tattach */
    n = putstr(req, 15, "bench");
    n = putstr(req, n, aname);
    put32(req + n, 0); n += 4;
    if (rpc(fd, req, n, rep, sizeof rep) != 105) die("attach refused");

    req[4] = 110; put16(req + 5, 1); put32(req + 7, 1); put32(req + 11, 2); put16(req + 15, 0);  /* Twalk 1 -> 2 */
    if (rpc(fd, req, 17, rep, sizeof rep) != 111) die("clone refused");

    req[4] = 14; put16(req + 5, 1); put32(req + 7, 2);                           /* Tlcreate */
    n = putstr(req, 11, name);
    put32(req + n, 01 | 0100 | 01000); put32(req + n + 4, 0644); put32(req + n + 8, 0); n += 12;
    if (rpc(fd, req, n, rep, sizeof rep) != 15) die("create refused");

    for (uint32_t i = 0; i < block; i++) req[23 + i] = (uint8_t)(i * 7 + 1);
    uint64_t total = (uint64_t)mib << 20, offset = 0;
    double start = now();
    while (offset < total) {
        uint32_t count = total - offset < block ? (uint32_t)(total - offset) : block;
        req[4] = 118; put16(req + 5, 1); put32(req + 7, 2); put64(req + 11, offset); put32(req + 19, count);  /* Twrite */
        if (rpc(fd, req, 23 + count, rep, sizeof rep) != 119) die("write failed");
        uint32_t written = get32(rep + 7);
        if (written == 0 || written > count) die("bad Rwrite count");
        offset += written;
    }
    req[4] = 120; put16(req + 5, 1); put32(req + 7, 2);                          /* Tclunk */
    if (rpc(fd, req, 11, rep, sizeof rep) != 121) die("clunk failed (the commit's error)");
    printf("p9write: %.1f MB/s\n", total / (now() - start) / 1e6);
    close(fd);
    return 0;
}
