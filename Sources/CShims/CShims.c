#define _GNU_SOURCE
#include "CShims.h"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int pebble_accept_nonblocking(int listen_fd) {
    return accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int pebble_socketpair_cloexec(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
}

int pebble_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int pebble_pipe(int fds[2], int want) {
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return -1;
    if (want > 0) (void)fcntl(fds[1], F_SETPIPE_SZ, want);
    int capacity = fcntl(fds[1], F_GETPIPE_SZ);
    if (capacity < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    return capacity;
}

ssize_t pebble_splice(int fd_in, int fd_out, size_t length, int more) {
    unsigned flags = SPLICE_F_NONBLOCK | SPLICE_F_MOVE | (more ? SPLICE_F_MORE : 0);
    return splice(fd_in, NULL, fd_out, NULL, length, flags);
}

int pebble_open_tmpfile(const char *directory) {
    return open(directory, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

int pebble_readable_bytes(int fd) {
    int count = 0;
    if (ioctl(fd, FIONREAD, &count) < 0) return -1;
    return count;
}

int pebble_stream_socket(int family) {
    return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

int pebble_sock_stream(void) { return SOCK_STREAM; }
