/*
 * delayrelay: a TCP relay that holds every byte for DELAY microseconds in each direction before
 * passing it on — a link with added delay, where the kernel has no netem (these machines do not:
 * `tc qdisc add … netem` answers "Specified qdisc kind is unknown"). For Benchmarks/delay.sh.
 *
 *   delayrelay -l PORT -c HOST:PORT -d MICROSECONDS
 *
 * Listens on 127.0.0.1:PORT; for each connection it connects to HOST:PORT and relays both ways,
 * each direction a reader thread (stamps what it reads) and a writer thread (sends each chunk
 * once its stamp is DELAY old). TCP_NODELAY on every socket. Runs until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
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

static long delay_ns;

struct chunk { struct chunk *next; int64_t due; size_t len; unsigned char data[]; };

struct direction {
    int from, to;
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct chunk *head, *tail;
    int eof;
};

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void *reader(void *arg) {
    struct direction *d = arg;
    for (;;) {
        struct chunk *c = malloc(sizeof *c + 262144);
        if (!c) break;
        ssize_t n = read(d->from, c->data, 262144);
        if (n <= 0) { free(c); if (n < 0 && errno == EINTR) continue; break; }
        c->len = (size_t)n;
        c->due = now_ns() + delay_ns;
        c->next = NULL;
        pthread_mutex_lock(&d->lock);
        if (d->tail) d->tail->next = c; else d->head = c;
        d->tail = c;
        pthread_cond_signal(&d->ready);
        pthread_mutex_unlock(&d->lock);
    }
    pthread_mutex_lock(&d->lock);
    d->eof = 1;
    pthread_cond_signal(&d->ready);
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

static void *writer(void *arg) {
    struct direction *d = arg;
    for (;;) {
        pthread_mutex_lock(&d->lock);
        while (!d->head && !d->eof) pthread_cond_wait(&d->ready, &d->lock);
        struct chunk *c = d->head;
        if (c) { d->head = c->next; if (!d->head) d->tail = NULL; }
        pthread_mutex_unlock(&d->lock);
        if (!c) break;
        int64_t wait = c->due - now_ns();
        if (wait > 0) {
            struct timespec t = { (time_t)(wait / 1000000000), (long)(wait % 1000000000) };
            while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
        }
        size_t off = 0;
        while (off < c->len) {
            ssize_t n = write(d->to, c->data + off, c->len - off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) { free(c); shutdown(d->from, SHUT_RD); return NULL; }
            off += (size_t)n;
        }
        free(c);
    }
    shutdown(d->to, SHUT_WR);
    return NULL;
}

static struct sockaddr_in upstream;

static void *connection(void *arg) {
    int client = (int)(intptr_t)arg, one = 1;
    int server = socket(AF_INET, SOCK_STREAM, 0);
    if (server < 0 || connect(server, (struct sockaddr *)&upstream, sizeof upstream) != 0) {
        close(client);
        if (server >= 0) close(server);
        return NULL;
    }
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct direction up = { .from = client, .to = server }, down = { .from = server, .to = client };
    struct direction *dirs[2] = { &up, &down };
    pthread_t threads[4];
    for (int i = 0; i < 2; i++) {
        pthread_mutex_init(&dirs[i]->lock, NULL);
        pthread_cond_init(&dirs[i]->ready, NULL);
        pthread_create(&threads[2 * i], NULL, reader, dirs[i]);
        pthread_create(&threads[2 * i + 1], NULL, writer, dirs[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    close(client);
    close(server);
    return NULL;
}

int main(int argc, char **argv) {
    int port = 0, c;
    const char *target = NULL;
    long delay_us = -1;
    while ((c = getopt(argc, argv, "l:c:d:")) != -1) {
        switch (c) {
        case 'l': port = atoi(optarg); break;
        case 'c': target = optarg; break;
        case 'd': delay_us = atol(optarg); break;
        default: break;
        }
    }
    const char *colon = target ? strrchr(target, ':') : NULL;
    if (port <= 0 || !colon || delay_us < 0) {
        fprintf(stderr, "usage: delayrelay -l PORT -c HOST:PORT -d MICROSECONDS\n");
        return 2;
    }
    delay_ns = delay_us * 1000;
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)(colon - target), target);
    upstream.sin_family = AF_INET;
    upstream.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &upstream.sin_addr) != 1) { fprintf(stderr, "delayrelay: bad address %s\n", host); return 2; }
    int listener = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in here = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    here.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&here, sizeof here) != 0 || listen(listener, 64) != 0) {
        perror("delayrelay: listen");
        return 1;
    }
    for (;;) {
        int client = accept(listener, NULL, NULL);
        if (client < 0) { if (errno == EINTR) continue; perror("delayrelay: accept"); return 1; }
        pthread_t thread;
        if (pthread_create(&thread, NULL, connection, (void *)(intptr_t)client) != 0) { close(client); continue; }
        pthread_detach(thread);
    }
}
