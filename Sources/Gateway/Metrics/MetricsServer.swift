import Foundation
import Logging

/// `--metrics HOST:PORT`: answers `GET /metrics` (Prometheus text) and `GET /sessions` (JSON) on a thread of its own, one
/// connection at a time, each bounded in size and time. Kept off the event loops so a slow or
/// hostile scraper cannot delay a 9P session; it holds no lock the loops take.
final class MetricsServer: Sendable {
    let address: String
    private let fd: Int32
    private let metrics: GatewayMetrics
    private let sessions: SessionDirectory

    init(address: String, metrics: GatewayMetrics, sessions: SessionDirectory) throws {
        let resolved = try SocketAddress.resolve(hostPort: address)
        try Listener.ensureUnused(resolved)
        fd = try Listener.bind(resolved)
        self.address = resolved.port == 0 ? resolved.with(port: Listener.boundPort(fd)).description : resolved.description
        self.metrics = metrics
        self.sessions = sessions
    }

    func start(logger: Logger) {
        let thread = Thread { [self] in self.serve(logger: logger) }
        thread.name = "pebble9p-metrics"
        thread.start()
    }

    private func serve(logger: Logger) {
        while true {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, -1) > 0 else { continue }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { continue }
            answer(client)
            close(client)
        }
    }

    /// Reads the request line (at most 8 KiB, 2 s), answers it, and is done: HTTP/1.0, no keep-alive.
    private func answer(_ client: Int32) {
        let flags = fcntl(client, F_GETFL)
        _ = fcntl(client, F_SETFL, flags & ~O_NONBLOCK)
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192, !request.contains(0x0A) {
            let got = chunk.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
            guard got > 0 else { return }
            request += chunk[0..<got]
        }
        let line = String(decoding: request.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self).split(separator: " ")
        let (status, type, body): (String, String, String)
        if line.count >= 2, line[0] == "GET", line[1] == "/metrics" {
            (status, type, body) = ("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics.exposition())
        } else if line.count >= 2, line[0] == "GET", line[1] == "/sessions" {
            (status, type, body) = ("200 OK", "application/json", sessions.json())
        } else {
            (status, type, body) = ("404 Not Found", "text/plain; charset=utf-8", "pebble9p: GET /metrics or /sessions\n")
        }
        let response = "HTTP/1.0 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        var bytes = Array(response.utf8)[...]
        while !bytes.isEmpty {
            let sent = bytes.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            guard sent > 0 else { return }
            bytes = bytes.dropFirst(sent)
        }
    }
}
