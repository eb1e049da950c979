import Foundation

/// The other end of `MetricsServer`, for `pebble9p sessions`: one HTTP/1.0 GET, bounded in time.
public enum MetricsClient {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The body of `GET path` from HOST:PORT, if the status is 200.
    public static func get(_ address: String, path: String) throws -> String {
        let resolved: SocketAddress
        do { resolved = try SocketAddress.resolve(hostPort: address) } catch { throw Failure(description: "\(address): \(error.message)") }
        let fd = socket(resolved.family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard resolved.withSockaddr({ connect(fd, $0, $1) }) == 0 else {
            throw Failure(description: "cannot connect to \(address): \(String(cString: strerror(errno)))")
        }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(address)\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == request.count else {
            throw Failure(description: "cannot send the request")
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while response.count < 64 << 20 {
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got <= 0 { break }
            response += chunk[0..<got]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw Failure(description: "no HTTP response from \(address)") }
        let status = text[..<split.lowerBound].split(separator: "\r\n").first ?? ""
        guard status.contains(" 200 ") else { throw Failure(description: "\(address)\(path): \(status)") }
        return String(text[split.upperBound...])
    }
}
