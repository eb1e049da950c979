/*
 * p9wire.h: what the benchmark clients (p9load.c, p9write.c) share: little-endian fields, 9P
 * strings, whole reads and writes, one request/reply exchange, a monotonic clock. Each includes it
 * after defining TOOL (its name, for error messages).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "%s: %s\n", TOOL, what);
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
