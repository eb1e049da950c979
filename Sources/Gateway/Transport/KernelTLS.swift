import Foundation

/// Kernel TLS (kTLS): once OpenSSL has done the handshake it can hand the record encryption to
/// the kernel (`SSL_OP_ENABLE_KTLS`), which saves a copy per record and CPU. Only where the
/// kernel offers the "tls" upper-layer protocol; elsewhere TLS stays in user space.
enum KernelTLS {
    /// Whether /proc/sys/net/ipv4/tcp_available_ulp lists "tls" (read once).
    static let available: Bool = {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_available_ulp", encoding: .utf8) else { return false }
        return text.split(whereSeparator: \.isWhitespace).contains("tls")
    }()

    /// SSL_OP_ENABLE_KTLS (a macro Swift cannot see), or nothing where kTLS is not available.
    static var option: UInt64 { available ? 1 << 3 : 0 }

    /// The path a context's connections take, for the start-up log line.
    static var path: String {
        available ? "kernel TLS offered (tls ULP present; OpenSSL offloads records where it can)"
            : "user-space TLS (no tls ULP in /proc/sys/net/ipv4/tcp_available_ulp)"
    }
}
