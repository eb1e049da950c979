import Foundation
import Logging

/// One local client's connection, relayed byte for byte to the gateway over TLS (`pebble9p
/// tunnel`): plain 9P in, TLS out. It does not parse 9P; it only moves bytes, in large reads and
/// writes (a large read is written straight from the buffer it was read into).
///
/// The gateway is dialed at once, so the TLS handshake overlaps the client's first frames, which
/// wait in the TLS leg's queue until it is up. Each direction stops reading its source while the
/// other side's queue holds more than `queueLimit` bytes. When either side ends, the other is
/// closed once what it was sent has been written.
final class TunnelSession: ConnectionDelegate, LoopSession {
    struct Settings {
        var queueLimit: Int
        /// The TLS handshake with the gateway must finish within this, or both sides are closed.
        var handshakeTimeoutMilliseconds: UInt64
    }

    private let loop: EventLoop
    private let client: Connection
    private var server: Connection?
    private let dialer: BackendDialer
    private let tls: TLSClientContext
    private let serverName: String
    private let settings: Settings
    private let logger: Logger
    private let onFinish: (LoopSession) -> Void
    private var handshakeTimer: LoopTimer?
    private var closeReason: String?
    private var finished = false
    private var bytesUp = 0
    private var bytesDown = 0
    private let startedAt = ContinuousClock.now

    var serverProcess: ChildProcess? { nil }

    /// Bytes gathered from read-ahead TLS records before they are written on.
    private static let batchLimit = 256 * 1024

    init(loop: EventLoop, client transport: any Transport, dialer: BackendDialer, tls: TLSClientContext, serverName: String,
         settings: Settings, logger: Logger, onFinish: @escaping (LoopSession) -> Void) throws(ConnectionError) {
        self.loop = loop
        self.dialer = dialer
        self.tls = tls
        self.serverName = serverName
        self.settings = settings
        self.onFinish = onFinish
        var logger = logger
        logger[metadataKey: "peer"] = "\(SocketAddress.describe(peerOf: transport.fd))"
        logger[metadataKey: "loop"] = "\(loop.index)"
        self.logger = logger
        client = try Connection(loop: loop, transport: transport)
    }

    func start() {
        client.delegate = self
        client.start()
        do {
            let dialed = try dialer.dial(on: loop)
            guard let secured = TLSTransport(client: tls, fd: dialed.fd, serverName: serverName) else {
                Foundation.close(dialed.fd)
                return fail("cannot start TLS: \(openSSLErrors())")
            }
            let server: Connection
            do {
                server = try Connection(loop: loop, transport: secured, connecting: dialed.connecting)
            } catch {
                secured.close()
                throw error
            }
            server.delegate = self
            self.server = server
            server.start()
            handshakeTimer = loop.schedule(after: settings.handshakeTimeoutMilliseconds) { [weak self] in
                guard let self, let server = self.server, !server.transport.isEstablished, !server.isClosed else { return }
                self.fail("no TLS handshake with the gateway within \(self.settings.handshakeTimeoutMilliseconds / 1000) s")
            }
        } catch {
            fail("cannot reach the gateway: \(error)")
        }
    }

    func shutdown() {
        if closeReason == nil { closeReason = "tunnel stopping" }
        client.closeAfterFlush()
        server?.closeAfterFlush()
    }

    private func fail(_ reason: String) {
        if closeReason == nil { closeReason = reason }
        logger.warning("closing tunnel connection", metadata: ["reason": "\(reason)"])
        server?.close()
        client.close()
        finishIfDone()
    }

    // MARK: ConnectionDelegate

    func connectionDidEstablish(_ connection: Connection) {
        guard let tls = connection.transport as? TLSTransport else { return }
        handshakeTimer?.cancel()
        handshakeTimer = nil
        logger.debug("TLS established with the gateway", metadata: [
            "protocol": "\(tls.protocolVersion)", "cipher": "\(tls.cipher)", "alpn": "\(tls.alpn ?? "none")",
            "ktls": "\(tls.kernelOffload)",
        ])
    }

    func connectionDidRead(_ connection: Connection) {
        guard let target = connection === client ? server : client else { return }
        relay(from: connection, to: target)
    }

    func connectionDidDrain(_ connection: Connection) {
        // The queue towards `connection` emptied: its source may be read again.
        guard let source = connection === client ? server : client, !source.isClosed, !source.isClosing else { return }
        if connection.output.count <= settings.queueLimit { source.setReading(true) }
        if !source.input.isEmpty { relay(from: source, to: connection) }
    }

    func connectionCanSplice(_ connection: Connection) {}

    func connectionDidClose(_ connection: Connection, error: Int32?) {
        if connection === client {
            server?.closeAfterFlush()
        } else {
            if let summary = connection.transport.failureSummary, closeReason == nil {
                closeReason = summary
                if !connection.transport.isEstablished {
                    logger.warning("TLS handshake with the gateway failed", metadata: ["reason": "\(connection.transport.failureReason ?? "")"])
                }
            } else if let error, closeReason == nil {
                closeReason = "gateway: \(String(cString: strerror(error)))"
            }
            client.closeAfterFlush()
        }
        finishIfDone()
    }

    /// Moves what `source` has read into `target`'s queue and writes it; stops reading `source`
    /// while `target` holds more than the limit.
    private func relay(from source: Connection, to target: Connection) {
        guard !target.isClosed else {
            source.input.consume(source.input.count)
            return
        }
        let count = source.input.count
        guard count > 0 else { return }
        // While TLS still holds records it read ahead, more is about to be relayed: one write for
        // all of them instead of one per 16 KiB record.
        let more = source.transport.pendingBytes > 0
        target.enqueue(UnsafeRawBufferPointer(source.input.readable), writeThrough: !more)
        source.input.consume(count)
        if source === client { bytesUp &+= count } else { bytesDown &+= count }
        if !more || target.output.count >= Self.batchLimit { target.flush() }
        if target.output.count > settings.queueLimit {
            target.flush()
            source.setReading(false)
        }
    }

    private func finishIfDone() {
        guard !finished, client.isClosed, server?.isClosed ?? true else { return }
        finished = true
        handshakeTimer?.cancel()
        handshakeTimer = nil
        logger.info("tunnel connection closed", metadata: [
            "bytes_up": "\(bytesUp)", "bytes_down": "\(bytesDown)", "duration": "\(ContinuousClock.now - startedAt)",
            "reason": "\(closeReason ?? "client closed")",
        ])
        onFinish(self)
    }
}
