import CShims
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A resolved IPv4/IPv6 or Unix-domain address, ready for bind(2) or connect(2).
struct SocketAddress: Sendable, CustomStringConvertible {
    private(set) var storage = sockaddr_storage()
    let length: socklen_t
    let family: Int32
    let description: String

    /// Splits "HOST:PORT" ("[::1]:564" for IPv6) into the host, without brackets, and the port text.
    static func split(hostPort: String) throws(ConfigError) -> (host: String, port: String) {
        guard let colon = hostPort.lastIndex(of: ":") else {
            throw ConfigError(key: nil, message: "expected HOST:PORT, got \"\(hostPort)\"")
        }
        var host = String(hostPort[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, String(hostPort[hostPort.index(after: colon)...]))
    }

    /// Whether `host` is a numeric IPv4 or IPv6 address (not a name to look up).
    static func isIPLiteral(_ host: String) -> Bool {
        var scratch = in6_addr()
        return inet_pton(AF_INET, host, &scratch) == 1 || inet_pton(AF_INET6, host, &scratch) == 1
    }

    /// Parses "HOST:PORT" ("[::1]:564" for IPv6) and resolves HOST numerically or by name.
    static func resolve(hostPort: String) throws(ConfigError) -> SocketAddress {
        var (host, portText) = try split(hostPort: hostPort)
        guard let port = UInt16(portText) else {
            throw ConfigError(key: nil, message: "bad port \"\(portText)\" in \"\(hostPort)\"")
        }
        if host.isEmpty { host = "0.0.0.0" }
        var hints = addrinfo()
        hints.ai_socktype = pebble_sock_stream()
        hints.ai_family = AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let first = result else {
            throw ConfigError(key: nil, message: "cannot resolve \"\(host)\": \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(result) }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
        }
        return SocketAddress(storage: storage, length: first.pointee.ai_addrlen,
                             family: first.pointee.ai_family, description: Self.hostPort(host, port))
    }

    static func unix(path: String) throws(ConfigError) -> SocketAddress {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw ConfigError(key: nil, message: "unix socket path must be 1..\(capacity - 1) bytes: \"\(path)\"")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in
            withUnsafeBytes(of: address) { raw.copyMemory(from: $0) }
        }
        return SocketAddress(storage: storage, length: socklen_t(MemoryLayout<sockaddr_un>.size),
                             family: AF_UNIX, description: "unix:\(path)")
    }

    private init(storage: sockaddr_storage, length: socklen_t, family: Int32, description: String) {
        self.storage = storage
        self.length = length
        self.family = family
        self.description = description
    }

    func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    /// The port, for TCP addresses (sin_port and sin6_port share offset 2).
    var port: UInt16 {
        withUnsafeBytes(of: storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
    }

    /// A copy with another port (used after binding port 0).
    func with(port: UInt16) -> SocketAddress {
        var copy = storage
        withUnsafeMutableBytes(of: &copy) { raw in
            raw.storeBytes(of: port.bigEndian, toByteOffset: 2, as: UInt16.self)
        }
        var host = String(description[..<(description.lastIndex(of: ":") ?? description.endIndex)])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return SocketAddress(storage: copy, length: length, family: family, description: Self.hostPort(host, port))
    }

    /// "HOST:PORT", with IPv6 hosts in brackets.
    private static func hostPort(_ host: String, _ port: UInt16) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// A printable form of a peer address returned by accept or getpeername.
    static func describe(peerOf fd: Int32) -> String {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        guard status == 0 else { return "unknown" }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let result = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count),
                            NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard result == 0 else { return "unknown" }
        return "\(decodeCString(host)):\(decodeCString(service))"
    }
}

/// A NUL-terminated C buffer as a Swift string.
func decodeCString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
