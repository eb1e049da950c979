#ifndef PEBBLE_COPENSSL_SHIM_H
#define PEBBLE_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

/* Function-like macros are invisible to Swift: wrap the ones the gateway uses. */
static inline long pebble_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long pebble_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
static inline long pebble_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}
typedef int (*pebble_servername_callback)(SSL *ssl, int *alert, void *arg);
static inline long pebble_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, pebble_servername_callback callback) {
    return SSL_CTX_set_tlsext_servername_callback(ctx, callback);
}
static inline long pebble_SSL_CTX_set_tlsext_servername_arg(SSL_CTX *ctx, void *arg) {
    return SSL_CTX_set_tlsext_servername_arg(ctx, arg);
}
static inline int pebble_BIO_flush(BIO *bio) { return BIO_flush(bio); }
static inline int pebble_BIO_should_retry(BIO *bio) { return BIO_should_retry(bio); }
static inline long pebble_BIO_set_write_buffer_size(BIO *bio, long size) { return BIO_set_write_buffer_size(bio, size); }
/* Whether kernel TLS carries the connection's records (0 where OpenSSL was built without it). */
static inline int pebble_ktls_send(SSL *ssl) { return (int)BIO_get_ktls_send(SSL_get_wbio(ssl)); }
static inline int pebble_ktls_recv(SSL *ssl) { return (int)BIO_get_ktls_recv(SSL_get_rbio(ssl)); }
static inline int pebble_general_names_count(const GENERAL_NAMES *names) {
    return sk_GENERAL_NAME_num(names);
}
static inline const GENERAL_NAME *pebble_general_name(const GENERAL_NAMES *names, int index) {
    return sk_GENERAL_NAME_value(names, index);
}
#endif
