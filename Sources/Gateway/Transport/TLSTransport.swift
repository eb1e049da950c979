import COpenSSL
import Foundation
import Pebble
#if canImport(Glibc)
import Glibc
#endif

/// TLS over a non-blocking socket, with OpenSSL reading and writing the fd itself (`SSL_set_fd`).
///
/// Why `SSL_set_fd` and not memory BIOs: the bytes go socket → OpenSSL → our buffer with no copy
/// through a BIO in between, the loop's poll on the fd stays the one source of readiness (each
/// WANT_READ / WANT_WRITE maps to the event to wait for), and kernel TLS (kTLS), which OpenSSL
/// enables only on its socket BIO, stays possible. Memory BIOs would pay a copy per record and
/// never offload.
final class TLSTransport: Transport {
    let fd: Int32
    private let ssl: OpaquePointer
    private(set) var isEstablished = false
    private(set) var gathersWrites = false
    private(set) var failureReason: String?
    private var closed = false

    /// Server side of a connection accepted on a TLS listener; nil when OpenSSL cannot make one
    /// (out of memory), leaving `fd` to the caller.
    convenience init?(server context: TLSServerContext, fd: Int32) {
        self.init(context.raw, fd: fd) { ssl in
            SSL_set_accept_state(ssl)
            return true
        }
    }

    /// Client side of a connection to a TLS server (the tunnel's leg to the gateway). The server's
    /// certificate must chain to the context's CA and name `serverName` (a DNS name, sent as SNI,
    /// or an IP address, checked against the certificate's IP SANs). Nil when OpenSSL cannot make
    /// the session, leaving `fd` to the caller.
    convenience init?(client context: TLSClientContext, fd: Int32, serverName: String) {
        self.init(context.raw, fd: fd) { ssl in
            SSL_set_connect_state(ssl)
            if SocketAddress.isIPLiteral(serverName) {
                return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName) == 1
            }
            return pebble_SSL_set_tlsext_host_name(ssl, serverName) == 1 && SSL_set1_host(ssl, serverName) == 1
        }
    }

    /// A session of `context` on `fd`, set up by `prepare` (which says whether it could be).
    private init?(_ context: OpaquePointer, fd: Int32, prepare: (OpaquePointer) -> Bool) {
        guard let ssl = SSL_new(context) else { return nil }
        guard SSL_set_fd(ssl, fd) == 1, prepare(ssl) else {
            SSL_free(ssl)
            return nil
        }
        // OpenSSL reads as much as the socket has (up to a 128 KiB buffer, given back when idle:
        // SSL_MODE_RELEASE_BUFFERS), not one record at a time: a 64 KiB 9P frame is five records,
        // which would cost five read(2) calls.
        SSL_set_read_ahead(ssl, 1)
        SSL_set_default_read_buffer_len(ssl, 128 * 1024)
        self.ssl = ssl
        self.fd = fd
        gathersWrites = Self.gatherWrites(ssl)
    }

    /// Puts a buffer (BIO_f_buffer) between OpenSSL and the socket for writing: the records one
    /// `write` makes (a 64 KiB frame is five) wait there and leave in one write(2) at
    /// `flushWrites`. 72 KiB holds one 64 KiB frame's records; the buffer lives as long as the
    /// session, so it is kept near that (max-conns of them). Not with kernel TLS, which needs OpenSSL's socket BIO itself. False when the
    /// buffer could not be made (the socket BIO is then used as it is).
    private static func gatherWrites(_ ssl: OpaquePointer) -> Bool {
        guard !KernelTLS.available, let socket = SSL_get_wbio(ssl), let buffer = BIO_new(BIO_f_buffer()) else { return false }
        guard pebble_BIO_set_write_buffer_size(buffer, 72 * 1024) > 0 else {
            BIO_free(buffer)
            return false
        }
        // The socket BIO is the read BIO too: the chain takes a reference of its own, and
        // SSL_set0_wbio gives up the one SSL_set_fd took for writing. SSL_free frees both chains.
        BIO_up_ref(socket)
        BIO_push(buffer, socket)
        SSL_set0_wbio(ssl, buffer)
        return true
    }

    func flushWrites() -> TransportResult {
        guard gathersWrites, let bio = SSL_get_wbio(ssl) else { return .done(0) }
        ERR_clear_error()
        if pebble_BIO_flush(bio) > 0 { return .done(0) }
        if pebble_BIO_should_retry(bio) != 0 { return .wouldBlock(.writable) }
        let error = errno
        failureReason = error != 0 ? String(cString: strerror(error)) : openSSLErrors()
        return .failed(error != 0 ? error : EPIPE)
    }

    var canSplice: Bool { false }
    /// Decrypted bytes of the current record, or at least 1 while OpenSSL holds records read ahead
    /// from the socket (SSL_has_pending): either way no poll event announces them.
    var pendingBytes: Int { SSL_has_pending(ssl) == 1 ? max(Int(SSL_pending(ssl)), 1) : 0 }

    func handshake() -> TransportResult {
        ERR_clear_error()
        let status = SSL_do_handshake(ssl)
        if status == 1 {
            isEstablished = true
            return .done(0)
        }
        return outcome(of: status)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> TransportResult {
        ERR_clear_error()
        var count = 0
        let status = SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count)
        return status == 1 ? .done(count) : outcome(of: status)
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> TransportResult {
        ERR_clear_error()
        var count = 0
        let status = SSL_write_ex(ssl, bytes.baseAddress, bytes.count, &count)
        return status == 1 ? .done(count) : outcome(of: status)
    }

    /// Sends close_notify when the stream is up (once, without waiting for the peer's), then frees
    /// the session and closes the fd.
    func close() {
        guard !closed else { return }
        closed = true
        if isEstablished && failureReason == nil {
            _ = SSL_shutdown(ssl)
            _ = flushWrites()   // the close_notify, if the socket takes it now
        }
        SSL_free(ssl)
        Foundation.close(fd)
    }

    deinit { close() }

    /// What a failed call means, keeping OpenSSL's reason for the log.
    private func outcome(of status: Int32) -> TransportResult {
        let error = errno
        switch SSL_get_error(ssl, status) {
        case SSL_ERROR_WANT_READ:
            return .wouldBlock(.readable)
        case SSL_ERROR_WANT_WRITE:
            return .wouldBlock(.writable)
        case SSL_ERROR_ZERO_RETURN:
            return .end
        case SSL_ERROR_SYSCALL:
            // No OpenSSL error and no errno: the peer closed the socket without close_notify.
            if ERR_peek_error() == 0 && error == 0 {
                if !isEstablished { failureReason = "the peer closed the connection during the TLS handshake" }
                return .end
            }
            failureReason = error != 0 ? String(cString: strerror(error)) : openSSLErrors()
            return .failed(error != 0 ? error : EPROTO)
        default:
            failureReason = describeFailure()
            return .failed(EPROTO)
        }
    }

    /// OpenSSL's reason, with the certificate check's own words when that is what failed.
    private func describeFailure() -> String {
        let reason = openSSLErrors()
        let verify = SSL_get_verify_result(ssl)
        guard verify != X509_V_OK else { return reason }
        return "\(reason) (certificate check: \(String(cString: X509_verify_cert_error_string(verify))))"
    }

    // MARK: What the handshake established

    /// "TLSv1.3" etc.
    var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    var cipher: String {
        guard let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher) else { return "none" }
        return String(cString: name)
    }

    /// The server name the client asked for (SNI), lowercase; nil when it sent none.
    var serverName: String? {
        SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0).lowercased() }
    }

    /// Which directions kernel TLS carries: "send+recv", "send", "recv" or "off".
    var kernelOffload: String {
        switch (pebble_ktls_send(ssl) != 0, pebble_ktls_recv(ssl) != 0) {
        case (true, true): "send+recv"
        case (true, false): "send"
        case (false, true): "recv"
        case (false, false): "off"
        }
    }

    /// The ALPN protocol agreed on, if any.
    var alpn: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The identity a verified client certificate gives (first SAN URI, else SAN DNS, else CN);
    /// nil without a certificate that verified.
    var certificateIdentity: ClientIdentity? {
        guard let certificate = SSL_get0_peer_certificate(ssl), SSL_get_verify_result(ssl) == X509_V_OK else { return nil }
        var uris: [String] = []
        var dnsNames: [String] = []
        if let names = X509_get_ext_d2i(certificate, NID_subject_alt_name, nil, nil) {
            let list = OpaquePointer(names)
            for index in 0..<pebble_general_names_count(list) {
                guard let name = pebble_general_name(list, index) else { continue }
                switch name.pointee.type {
                case GEN_URI: uris.append(Self.string(name.pointee.d.uniformResourceIdentifier))
                case GEN_DNS: dnsNames.append(Self.string(name.pointee.d.dNSName))
                default: break
                }
            }
            GENERAL_NAMES_free(list)
        }
        var commonName: String?
        if let subject = X509_get_subject_name(certificate) {
            let index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1)
            if index >= 0, let entry = X509_NAME_get_entry(subject, index) {
                commonName = Self.string(X509_NAME_ENTRY_get_data(entry))
            }
        }
        return ClientIdentity.fromCertificate(uris: uris, dnsNames: dnsNames, commonName: commonName)
    }

    private static func string(_ value: UnsafePointer<ASN1_STRING>?) -> String {
        guard let value, let data = ASN1_STRING_get0_data(value) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(value))), as: UTF8.self)
    }

    private static func string(_ value: UnsafeMutablePointer<ASN1_STRING>?) -> String {
        string(value.map { UnsafePointer($0) })
    }
}
