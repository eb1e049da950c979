#ifndef PEBBLE_CLIBUV_SHIM_H
#define PEBBLE_CLIBUV_SHIM_H
#include <uv.h>
#endif
