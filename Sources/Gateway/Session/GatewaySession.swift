import Foundation
import Logging
import NineP

/// Ties one client connection, its backend connection and its `ProxySession` together: cuts the
/// byte streams into frames, feeds them to the session, flushes, and applies backpressure.
///
/// Backpressure goes to the client, never to the backend: when either outbound queue passes
/// `queueLimit`, or too many requests are in flight, the gateway stops reading the client. The
/// backend is always read (a diod connection that is not read stalls diod for every client), and it
/// only ever answers requests we forwarded, so memory stays within queueLimit + inFlight × msize.
final class GatewaySession: SessionHost, ConnectionDelegate {
    struct Settings {
        var limits: ProxySession.Limits
        var queueLimit: Int
        var drainTimeoutMilliseconds: UInt64
        /// A client that has not finished version negotiation by then is disconnected.
        var handshakeTimeoutMilliseconds: UInt64
    }

    private let loop: EventLoop
    private let client: Connection
    private var backend: Connection?
    private var core: ProxySession!
    private let settings: Settings
    private var logger: Logger
    private let peer: String
    private let startedAt = ContinuousClock.now
    private var drainTimer: LoopTimer?
    private var handshakeTimer: LoopTimer?
    private var closeTimer: LoopTimer?
    private let dialer: BackendDialer
    private var clientOpen = true
    private var backendOpen = false
    private var closeReason: String?
    private var finished = false
    private let onFinish: (GatewaySession) -> Void

    init(loop: EventLoop, clientFd: Int32, dialer: BackendDialer, settings: Settings, logger: Logger,
         onFinish: @escaping (GatewaySession) -> Void) {
        self.loop = loop
        self.dialer = dialer
        self.settings = settings
        self.onFinish = onFinish
        peer = SocketAddress.describe(peerOf: clientFd)
        var logger = logger
        logger[metadataKey: "peer"] = "\(peer)"
        self.logger = logger
        client = Connection(loop: loop, fd: clientFd)
        core = ProxySession(limits: settings.limits, host: self)
    }

    func start() {
        logger.info("session opened", metadata: ["backend": "\(dialer.spec)"])
        client.delegate = self
        client.start()
        handshakeTimer = loop.schedule(after: settings.handshakeTimeoutMilliseconds) { [weak self] in
            guard let self, self.core.dialect == nil, self.clientOpen else { return }
            self.closeClient(reason: "no version negotiated within \(self.settings.handshakeTimeoutMilliseconds / 1000) s")
        }
    }

    /// Connects to the file server when the client's first frame is ready, not at accept: a
    /// connection that never speaks costs no backend connection (and no process, for `exec:`).
    private func dialBackend() -> Bool {
        do {
            let dialed = try dialer.dial(on: loop)
            if let process = dialed.process {
                logger.debug("file server started", metadata: ["pid": "\(process.pid)"])
            }
            let backend = Connection(loop: loop, fd: dialed.fd, connecting: dialed.connecting)
            backend.delegate = self
            self.backend = backend
            backendOpen = true
            backend.start()
            return true
        } catch {
            logger.error("cannot reach file server", metadata: ["error": "\(error)"])
            closeReason = "backend: \(error)"
            client.close()
            return false
        }
    }

    /// The gateway is stopping: close the client; the usual drain then clunks every backend fid.
    func shutdown() {
        closeClient(reason: "gateway stopping")
    }

    // MARK: Frames

    private func pumpClient() {
        while canTakeClientFrames && !client.isClosed {
            let frame: UnsafeMutableRawBufferPointer
            do {
                guard let next = try client.input.nextFrame(limit: core.clientFrameLimit) else { break }
                frame = next
            } catch {
                core.rejectFrame(tag: error.tag, error: error.reason)
                closeClient(reason: "\(error.reason)")
                break
            }
            if backend == nil && !dialBackend() { return }
            core.clientFrame(frame)
            client.input.consume(frame.count)
        }
        flushAndBalance()
    }

    private func pumpBackend() {
        guard let backend else { return }
        while !backend.isClosed {
            let frame: UnsafeMutableRawBufferPointer
            do {
                guard let next = try backend.input.nextFrame(limit: core.backendFrameLimit) else { break }
                frame = next
            } catch {
                logger.error("file server sent a bad frame; closing the session", metadata: ["error": "\(error.reason)"])
                closeReason = "file server protocol error"
                backend.close()
                break
            }
            core.backendFrame(frame)
            backend.input.consume(frame.count)
        }
        // Replies may have made room for requests that were left waiting in the client's buffer.
        if clientOpen && !client.input.isEmpty && canTakeClientFrames {
            pumpClient()
        } else {
            flushAndBalance()
        }
    }

    /// Whether another client request may be handled now: the session is not waiting on a version
    /// exchange or at its in-flight limit, and neither outbound queue is over its bound. Requests
    /// already read stay in the input buffer until this is true again.
    private var canTakeClientFrames: Bool {
        core.acceptsClientFrames
            && client.output.count <= settings.queueLimit
            && (backend?.output.count ?? 0) <= settings.queueLimit
    }

    private func flushAndBalance() {
        backend?.flush()
        client.flush()
        client.setReading(canTakeClientFrames)
    }

    // MARK: SessionHost

    func sendToBackend(_ frame: UnsafeRawBufferPointer) { backend?.enqueue(frame) }

    func sendToClient(_ frame: UnsafeRawBufferPointer) { client.enqueue(frame) }

    func closeClient(reason: String) {
        guard clientOpen, !client.isClosed else { return }
        if closeReason == nil { closeReason = reason }
        logger.warning("closing client connection", metadata: ["reason": "\(reason)"])
        client.closeAfterFlush()
        if !client.isClosed {
            // A client that does not read must not keep the session (and its fids) alive.
            closeTimer = loop.schedule(after: Self.closeGraceMilliseconds) { [weak self] in
                self?.client.close()
            }
        }
    }

    /// How long a closing client gets to take its last replies.
    static let closeGraceMilliseconds: UInt64 = 2_000

    func closeBackend() {
        backend?.closeAfterFlush()
    }

    // MARK: ConnectionDelegate

    func connectionDidRead(_ connection: Connection) {
        if connection === client { pumpClient() } else { pumpBackend() }
    }

    func connectionDidDrain(_ connection: Connection) {
        if clientOpen && !client.input.isEmpty { pumpClient() } else { flushAndBalance() }
    }

    func connectionDidClose(_ connection: Connection, error: Int32?) {
        if connection === client {
            guard clientOpen else { return }
            clientOpen = false
            core.clientClosed()
            backend?.flush()
            if backendOpen && !core.isClosed {
                drainTimer = loop.schedule(after: settings.drainTimeoutMilliseconds) { [weak self] in
                    guard let self, self.backendOpen else { return }
                    self.logger.warning("file server did not answer the cleanup in time; closing it")
                    self.backend?.close()
                }
            }
        } else {
            guard backendOpen else { return }
            backendOpen = false
            if let error, closeReason == nil { closeReason = "file server: \(String(cString: strerror(error)))" }
            core.backendClosed()
        }
        finishIfDone()
    }

    private func finishIfDone() {
        guard !clientOpen && !backendOpen, !finished else { return }
        finished = true
        drainTimer?.cancel()
        drainTimer = nil
        handshakeTimer?.cancel()
        handshakeTimer = nil
        closeTimer?.cancel()
        closeTimer = nil
        let stats = core.stats
        let duration = ContinuousClock.now - startedAt
        logger.info("session closed", metadata: [
            "dialect": "\(core.dialect?.rawValue ?? "none")",
            "msize": "\(core.msize)",
            "requests": "\(stats.requests)",
            "replies": "\(stats.replies)",
            "bytes_in": "\(stats.bytesFromClient)",
            "bytes_out": "\(stats.bytesToClient)",
            "gateway_errors": "\(stats.errorsByGateway)",
            "backend_fids_left": "\(core.fids.liveBackendFids.count)",
            "duration": "\(duration)",
            "reason": "\(closeReason ?? "client closed")",
        ])
        onFinish(self)
    }
}
