import COpenSSL
import Foundation

/// The tunnel's SSL_CTX for its connections to the gateway: the server's certificate must chain
/// to `caFile` (and name the server: see `TLSTransport.init(client:fd:serverName:)`), ALPN offers
/// "9p", and a client certificate is presented when one is given.
final class TLSClientContext: @unchecked Sendable {
    let raw: OpaquePointer

    init(caFile: String, certificateFile: String?, keyFile: String?, minimumVersion: String) throws(ConfigError) {
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw ConfigError(key: "ca", message: "cannot make a TLS context: \(openSSLErrors())")
        }
        raw = context
        guard pebble_SSL_CTX_set_min_proto_version(context, minimumVersion == "1.2" ? TLS1_2_VERSION : TLS1_3_VERSION) == 1 else {
            throw ConfigError(key: "tls-min", message: "cannot set \(minimumVersion): \(openSSLErrors())")
        }
        _ = pebble_SSL_CTX_set_mode(context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS))
        _ = SSL_CTX_set_options(context, TLSServerContext.ignoreUnexpectedEOF | KernelTLS.option)
        guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
            throw ConfigError(key: "ca", message: "cannot load CA certificates from \(caFile): \(openSSLErrors())")
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        switch (certificateFile, keyFile) {
        case (nil, nil):
            break
        case let (certificate?, key?):
            guard SSL_CTX_use_certificate_chain_file(context, certificate) == 1 else {
                throw ConfigError(key: "cert", message: "cannot load a certificate chain from \(certificate): \(openSSLErrors())")
            }
            guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1, SSL_CTX_check_private_key(context) == 1 else {
                throw ConfigError(key: "key", message: "cannot use \(key) as the key of \(certificate): \(openSSLErrors())")
            }
        case (nil, _?):
            throw ConfigError(key: "cert", message: "key is set but not cert")
        case (_?, nil):
            throw ConfigError(key: "key", message: "cert is set but not key")
        }
        let protocols: [UInt8] = [UInt8(TLSServerContext.alpn.count)] + TLSServerContext.alpn
        guard SSL_CTX_set_alpn_protos(context, protocols, UInt32(protocols.count)) == 0 else {
            throw ConfigError(key: "ca", message: "cannot offer ALPN: \(openSSLErrors())")
        }
    }

    deinit { SSL_CTX_free(raw) }
}
