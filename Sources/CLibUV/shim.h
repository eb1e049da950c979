#ifndef PEBBLE_CLIBUV_SHIM_H
#define PEBBLE_CLIBUV_SHIM_H
#include <uv.h>
#include <stdlib.h>

/* libuv's handle casts are macros or need pointer punning Swift cannot express cleanly. */
static inline uv_handle_t *pebble_poll_handle(uv_poll_t *p) { return (uv_handle_t *)p; }
static inline uv_handle_t *pebble_timer_handle(uv_timer_t *t) { return (uv_handle_t *)t; }
static inline uv_handle_t *pebble_async_handle(uv_async_t *a) { return (uv_handle_t *)a; }
static inline uv_handle_t *pebble_process_handle(uv_process_t *p) { return (uv_handle_t *)p; }

/* Starts `/bin/sh -c command` with `fd` as its stdin and stdout and the gateway's stderr,
 * the inetd convention that `diod -r 0 -w 1` and most 9P servers' stdio modes follow.
 * Detached (its own session and process group): Ctrl-C in a terminal, or a supervisor signalling
 * the gateway's whole group, must reach only the gateway, which then drains its sessions (flush,
 * clunk) before the servers go; a server killed first would lose that cleanup. */
static inline int pebble_spawn_shell(uv_loop_t *loop, uv_process_t *process, const char *command,
                                     int fd, uv_exit_cb exit_cb) {
    char *args[4] = { (char *)"/bin/sh", (char *)"-c", (char *)command, NULL };
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_INHERIT_FD; stdio[0].data.fd = fd;
    stdio[1].flags = UV_INHERIT_FD; stdio[1].data.fd = fd;
    stdio[2].flags = UV_INHERIT_FD; stdio[2].data.fd = 2;
    uv_process_options_t options = {0};
    options.exit_cb = exit_cb;
    options.file = "/bin/sh";
    options.args = args;
    options.stdio_count = 3;
    options.stdio = stdio;
    options.flags = UV_PROCESS_DETACHED;
    return uv_spawn(loop, process, &options);
}
#endif
