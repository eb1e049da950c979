#ifndef PEBBLE_COPENSSL_SHIM_H
#define PEBBLE_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>

/* Function-like macros are invisible to Swift: wrap the ones the gateway uses. */
static inline long pebble_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}
#endif
