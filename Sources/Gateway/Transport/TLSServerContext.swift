import COpenSSL
import Foundation

/// How the server asks for client certificates.
public enum ClientAuth: String, Sendable, CaseIterable {
    /// None asked for.
    case none
    /// Asked for; one that is sent must verify, but a client may send none.
    case optional
    /// A verified certificate is required.
    case required
}

/// What a TLS listener is configured with (the `tls-*` and `client-*` settings).
public struct TLSSettings: Sendable, Equatable {
    public var certificateFile: String
    public var keyFile: String
    public var clientCAFile: String?
    /// CRLs (PEM) from the client CA: a revoked client certificate is refused.
    public var clientCRLFile: String? = nil
    public var clientAuth: ClientAuth
    /// "1.3" (the default) or "1.2".
    public var minimumVersion: String
    /// The TLS 1.2 cipher list (OpenSSL syntax).
    public var ciphers: String
    /// The TLS 1.3 cipher suites (OpenSSL syntax).
    public var cipherSuites: String
    /// When set, a handshake naming (SNI) none of these server names, or none at all, is refused
    /// with an unrecognized_name alert (`route-strict`). Lowercase.
    public var requiredServerNames: Set<String>?

    /// Forward-secret AEAD suites only, AES-128-GCM first (the same order as the TLS 1.3 default).
    public static let defaultCiphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
    public static let defaultCipherSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    public static let versions = ["1.2", "1.3"]
}

/// The server's SSL_CTX, made once at start and shared by every loop (OpenSSL makes SSL objects
/// from one context safely on any thread). Certificate, key and CA are loaded here, so a missing
/// or bad file is reported at start (and by `pebble9p check`) naming the file.
final class TLSServerContext: @unchecked Sendable {
    let raw: OpaquePointer
    /// The names the SNI callback accepts (its argument, kept alive as long as the context).
    private let serverNames: ServerNames?

    /// The one ALPN protocol the gateway speaks; a client offering only others is refused.
    static let alpn: [UInt8] = Array("9p".utf8)

    init(_ settings: TLSSettings) throws(ConfigError) {
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw ConfigError(key: "tls-cert", message: "cannot make a TLS context: \(openSSLErrors())")
        }
        raw = context
        serverNames = settings.requiredServerNames.map(ServerNames.init)
        if let serverNames {
            _ = pebble_SSL_CTX_set_tlsext_servername_arg(context, Unmanaged.passUnretained(serverNames).toOpaque())
            _ = pebble_SSL_CTX_set_tlsext_servername_callback(context) { ssl, alert, argument in
                guard let argument else { return SSL_TLSEXT_ERR_OK }
                let names = Unmanaged<ServerNames>.fromOpaque(argument).takeUnretainedValue()
                if let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), names.set.contains(String(cString: name).lowercased()) {
                    return SSL_TLSEXT_ERR_OK
                }
                alert?.pointee = 112   // SSL_AD_UNRECOGNIZED_NAME
                return SSL_TLSEXT_ERR_ALERT_FATAL
            }
        }
        let minimum = settings.minimumVersion == "1.2" ? TLS1_2_VERSION : TLS1_3_VERSION
        guard pebble_SSL_CTX_set_min_proto_version(context, minimum) == 1 else {
            throw ConfigError(key: "tls-min", message: "cannot set \(settings.minimumVersion): \(openSSLErrors())")
        }
        // Partial writes, and a write retried from a buffer that moved (the output queue compacts);
        // idle sessions give their record buffers back.
        _ = pebble_SSL_CTX_set_mode(context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS))
        // Our order of ciphers wins (AES-128-GCM first: the fastest where AES-NI is), not the client's.
        // A client that closes its socket without close_notify has simply left: 9P frames carry
        // their own length, so a cut stream shows as a cut frame, and OpenSSL 3 would otherwise
        // report an "unexpected eof" error for every such departure.
        _ = SSL_CTX_set_options(context, Self.cipherServerPreference | Self.ignoreUnexpectedEOF | KernelTLS.option)
        guard SSL_CTX_set_cipher_list(context, settings.ciphers) == 1 else {
            throw ConfigError(key: "tls-ciphers", message: "no usable cipher in \"\(settings.ciphers)\": \(openSSLErrors())")
        }
        guard SSL_CTX_set_ciphersuites(context, settings.cipherSuites) == 1 else {
            throw ConfigError(key: "tls-ciphersuites", message: "no usable suite in \"\(settings.cipherSuites)\": \(openSSLErrors())")
        }
        guard SSL_CTX_use_certificate_chain_file(context, settings.certificateFile) == 1 else {
            throw ConfigError(key: "tls-cert", message: "cannot load a certificate chain from \(settings.certificateFile): \(openSSLErrors())")
        }
        guard SSL_CTX_use_PrivateKey_file(context, settings.keyFile, SSL_FILETYPE_PEM) == 1 else {
            throw ConfigError(key: "tls-key", message: "cannot use \(settings.keyFile) as the key of \(settings.certificateFile): \(openSSLErrors())")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw ConfigError(key: "tls-key", message: "\(settings.keyFile) is not the key of \(settings.certificateFile): \(openSSLErrors())")
        }
        switch (settings.clientAuth, settings.clientCAFile) {
        case (.none, _):
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        case (_, nil):
            throw ConfigError(key: "client-auth", message: "\(settings.clientAuth.rawValue) needs client-ca")
        case let (auth, file?):
            guard SSL_CTX_load_verify_locations(context, file, nil) == 1 else {
                throw ConfigError(key: "client-ca", message: "cannot load CA certificates from \(file): \(openSSLErrors())")
            }
            let mode = auth == .required ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER
            SSL_CTX_set_verify(context, mode, nil)
        }
        if let file = settings.clientCRLFile {
            guard settings.clientCAFile != nil, settings.clientAuth != .none else {
                throw ConfigError(key: "client-crl", message: "needs client-ca and client certificates asked for")
            }
            // Each client certificate is checked against the CRLs; one its CA revoked is refused.
            guard let store = SSL_CTX_get_cert_store(context), let lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file()),
                  X509_load_crl_file(lookup, file, X509_FILETYPE_PEM) > 0 else {
                throw ConfigError(key: "client-crl", message: "cannot load a CRL from \(file): \(openSSLErrors())")
            }
            _ = X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK))
        }
        // Resumed sessions keep their verified client; OpenSSL refuses resumption with client
        // verification unless the context has a session id context.
        let sessionContext = Array("pebble9p".utf8)
        _ = SSL_CTX_set_session_id_context(context, sessionContext, UInt32(sessionContext.count))
        SSL_CTX_set_alpn_select_cb(context, { _, out, outLength, offered, offeredLength, _ in
            guard let out, let outLength, let offered else { return SSL_TLSEXT_ERR_ALERT_FATAL }
            // The client's list: length-prefixed names. Pick "9p" or refuse the handshake.
            var index = 0
            let count = Int(offeredLength)
            while index < count {
                let length = Int(offered[index])
                let start = index + 1
                guard start + length <= count else { break }
                if length == 2 && offered[start] == UInt8(ascii: "9") && offered[start + 1] == UInt8(ascii: "p") {
                    out.pointee = offered + start
                    outLength.pointee = 2
                    return SSL_TLSEXT_ERR_OK
                }
                index = start + length
            }
            return SSL_TLSEXT_ERR_ALERT_FATAL
        }, nil)
    }

    deinit { SSL_CTX_free(raw) }

    /// The server names a strict context accepts.
    private final class ServerNames {
        let set: Set<String>
        init(_ set: Set<String>) { self.set = set }
    }

    /// SSL_OP_CIPHER_SERVER_PREFERENCE and SSL_OP_IGNORE_UNEXPECTED_EOF: macros Swift cannot see.
    private static let cipherServerPreference: UInt64 = 1 << 22
    static let ignoreUnexpectedEOF: UInt64 = 1 << 7
}

/// OpenSSL's error queue as one line (emptied).
func openSSLErrors() -> String {
    var messages: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        messages.append(buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }
    return messages.isEmpty ? "no detail from OpenSSL" : messages.joined(separator: "; ")
}
