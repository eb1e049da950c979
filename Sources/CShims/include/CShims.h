#ifndef PEBBLE_CSHIMS_H
#define PEBBLE_CSHIMS_H
#include <stddef.h>
#include <sys/types.h>

/* GNU-only calls live behind these wrappers so that no header has to define _GNU_SOURCE. */

/* accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC. Returns the fd or -1 (errno set). */
int pebble_accept_nonblocking(int listen_fd);

/* socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC). */
int pebble_socketpair_cloexec(int fds[2]);

/* Puts fd into non-blocking mode. */
int pebble_set_nonblocking(int fd);

/* pipe2 with O_NONBLOCK | O_CLOEXEC, its capacity raised towards `want` bytes (F_SETPIPE_SZ; a
   refusal keeps the default). Returns the capacity, or -1 (errno set) when no pipe was made. */
int pebble_pipe(int fds[2], int want);

/* splice(2) with SPLICE_F_NONBLOCK | SPLICE_F_MOVE (and SPLICE_F_MORE when `more`). */
ssize_t pebble_splice(int fd_in, int fd_out, size_t length, int more);

/* An unnamed file in `directory` (open with O_TMPFILE | O_RDWR | O_CLOEXEC, mode 0600): gone
   when closed. Returns the fd, or -1 (errno set; EOPNOTSUPP where the file system has none). */
int pebble_open_tmpfile(const char *directory);

/* Bytes waiting to be read on a socket (FIONREAD), or -1 (errno set). */
int pebble_readable_bytes(int fd);

/* socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0). */
int pebble_stream_socket(int family);

/* The SOCK_STREAM constant (Glibc's enum does not always import cleanly). */
int pebble_sock_stream(void);

#endif
