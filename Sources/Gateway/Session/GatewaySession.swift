import Foundation
import Logging
import NineP
import Pebble
import Synchronization

/// Ties one client connection, its backend connection and its `ProxySession` together: cuts the
/// byte streams into frames, feeds them to the session, flushes, and applies backpressure.
///
/// Backpressure goes to the client, never to the backend: when either outbound queue passes
/// `queueLimit`, or the session holds that many bytes of requests waiting for room at the server
/// (`ProxySession.Limits`), the gateway stops reading the client. The backend is always read (a
/// diod connection that is not read stalls diod for every client), and it only ever answers
/// requests we sent, so memory stays within about three times queueLimit plus one msize.
///
/// Its extensions: payload splicing (+Splice), budgets and timers (+Guards), Blue's host side
/// (+Blue) and the session's end with its close line (+End).
final class GatewaySession: SessionHost, ConnectionDelegate, LoopSession {
    struct Settings {
        var limits: ProxySession.Limits
        /// The limits of identities that have their own (`client-budget`), by identity.
        var clientLimits: [String: ProxySession.Limits] = [:]
        var queueLimit: Int
        var drainTimeoutMilliseconds: UInt64
        /// A client that has not finished version negotiation by then is disconnected.
        var handshakeTimeoutMilliseconds: UInt64
        /// A client whose frame has been arriving for this long is disconnected (0: never).
        var frameTimeoutMilliseconds: UInt64 = 0
        /// A session with no byte from its client and nothing at the server for this long is closed (0: never).
        var idleTimeoutMilliseconds: UInt64 = 0
        /// A request at the server this long is answered EIO and flushed (0: never).
        var backendTimeoutMilliseconds: UInt64 = 0
        /// A Twrite's or Rread's data is spliced (not read) when at least this many of its bytes are
        /// still in the socket once its fixed fields have arrived; 0 never splices.
        var spliceMinimum: Int
        /// Capability tokens (nil: not configured), whether one is required, and what a token's
        /// session attaches to the backend as.
        var tokens: TokenMaterial?
        var requireToken = false
        var backendAname = ""
        var backendUname: String?
        /// Where security events go.
        var audit: AuditLog
        /// Rate limits per session and per identity (nil: none), and the burst in seconds.
        var rates: SharedRates? = nil
        var burstSeconds = 1.0
        /// Sessions per client address and per verified identity (nil: no limit).
        var connectionCounts: KeyedLedgers? = nil
        /// Bytes held per identity (`--quota`; nil: no byte budget).
        var bytesHeld: KeyedLedgers? = nil
        /// Fids, and requests not yet answered, per identity (nil: no limit).
        var fidsPerClient: KeyedLedgers? = nil
        var requestsPerClient: KeyedLedgers? = nil
        /// The process-wide counters `/metrics` shows.
        var metrics = GatewayMetrics()
        /// Where the session publishes its summary for `/sessions` (nil: not served).
        var sessions: SessionDirectory? = nil
        /// Budgets on (`--pebble on`): a token's budget caveats apply.
        var budgets = true
        /// Blue writes (nil: off), and the identities' own setting (`client-budget`; a nil value: off).
        var blue: ProxySession.BlueSettings? = nil
        var readAhead: ProxySession.ReadAheadSettings? = nil
        var clientBlue: [String: ProxySession.BlueSettings?] = [:]
    }

    /// Numbers sessions for the audit log, process-wide.
    private static let sessionNumbers = Atomic<UInt64>(0)
    let sessionNumber = GatewaySession.sessionNumbers.wrappingAdd(1, ordering: .relaxed).newValue

    let loop: EventLoop
    let client: Connection
    var backend: Connection?
    var core: ProxySession!
    let settings: Settings
    var logger: Logger
    let peer: String
    /// Who the client is: its verified certificate's subject once a TLS handshake gave one, else
    /// its address. Logged when the session ends; later policy keys on it.
    var identity: ClientIdentity
    let startedAt = ContinuousClock.now
    var drainTimer: LoopTimer?
    var handshakeTimer: LoopTimer?
    /// Checks the frame and idle timeouts (`ClientWatch`), re-armed while the client is open.
    var watchTimer: LoopTimer?
    var watch = ClientWatch()
    /// Wakes held requests when the rate limits let them go.
    var pacingTimer: LoopTimer?
    /// This session's shares of `connectionCounts` (one session each), given back at the end.
    var countedAs: [LedgerShare] = []
    /// The token id of the session's first attach with a token, when it has no verified
    /// certificate: its budgets are the token's from then on (`rateKey`).
    var tokenIdentity: String?
    /// The backend fids this session has added to the `fids_active` gauge.
    var fidsReported = 0
    /// The Blue bytes this session has added to the `blue_bytes_held` gauge.
    var blueBytesReported = 0
    var closeTimer: LoopTimer?
    var resetTimer: LoopTimer?
    /// Waiting for a connect slot (`ConnectGate`), or holding one until the server first answers.
    var connectTicket: UInt64?
    var holdsConnectSlot = false
    /// The `exec:` server started for this session, if any.
    var serverProcess: ChildProcess?
    /// The backend: the default, or the route for the server name a TLS client asked for.
    var dialer: BackendDialer
    /// The route the TLS server name picked, if any.
    var routeName: String?
    /// Backends by TLS server name (`route`).
    let routes: [String: BackendDialer]
    var clientOpen: Bool { !client.isClosed }
    /// False before the backend is dialed, and once its connection has closed.
    var backendOpen: Bool { backend.map { !$0.isClosed } ?? false }
    var closeReason: String?
    var finished = false
    let onFinish: (LoopSession) -> Void
    /// The data of a Twrite on its way from the client to the backend.
    var upload: PayloadSplice?
    /// The data of a held Twrite on its way from the client into its fid's spill file, and the
    /// hold it completes.
    var spillUpload: PayloadSplice?
    var spillHold: ProxySession.SplicedHold?
    /// The data of an Rread on its way from the backend to the client.
    var download: PayloadSplice?
    /// Which path the session's payload bytes took (for the close log line; `/metrics` has the sums).
    var payload = PayloadPaths()

    /// `client` is the accepted connection's transport (plain, or TLS still to shake hands).
    init(loop: EventLoop, client transport: any Transport, dialer: BackendDialer, routes: [String: BackendDialer] = [:],
         settings: Settings, logger: Logger, onFinish: @escaping (LoopSession) -> Void) throws(ConnectionError) {
        self.loop = loop
        self.dialer = dialer
        self.routes = routes
        self.settings = settings
        self.onFinish = onFinish
        peer = SocketAddress.describe(peerOf: transport.fd)
        identity = .peer(peer)
        var logger = logger
        logger[metadataKey: "peer"] = "\(peer)"
        logger[metadataKey: "loop"] = "\(loop.index)"
        self.logger = logger
        client = try Connection(loop: loop, transport: transport)
        var access = ProxySession.Access(backendAname: settings.backendAname, backendUname: settings.backendUname)
        access.budgets = settings.budgets
        access.blue = settings.blue
        access.readAhead = settings.readAhead
        if let tokens = settings.tokens {
            access.tokens = RequestPolicy.TokenPolicy(verifier: tokens.current, required: settings.requireToken)
            access.currentVerifier = { tokens.current }
        }
        access.burstSeconds = settings.burstSeconds
        access.backendTimeout = Double(settings.backendTimeoutMilliseconds) / 1000
        core = ProxySession(limits: settings.limits, access: access, host: self)
        applyBudgets()
    }

    func start() {
        logger.info("session opened", metadata: ["backend": "\(dialer.spec)"])
        client.delegate = self
        client.start()
        watch = ClientWatch(now: .now)
        armWatch()
        settings.metrics.sessionsOpen.add(1)
        settings.metrics.sessionsTotal.add(1)
        publish()
        _ = countConnection(as: "addr:\(peerHost ?? peer)")
        handshakeTimer = loop.schedule(after: settings.handshakeTimeoutMilliseconds) { [weak self] in
            guard let self, self.core.dialect == nil, self.clientOpen else { return }
            self.closeClient(reason: "no version negotiated within \(self.settings.handshakeTimeoutMilliseconds / 1000) s")
        }
    }

    /// Connects to the file server when the client's first frame is ready, or queues for one of
    /// the loop's connect slots (`ConnectGate`; not for `exec:`, whose socketpair has no backlog).
    /// Returns whether the backend connection exists now.
    func startBackend() -> Bool {
        if !dialer.startsProcess && !holdsConnectSlot {
            guard connectTicket == nil else { return false }
            guard loop.connectGate.tryAcquire() else {
                connectTicket = loop.connectGate.wait { [weak self] in self?.admitted() }
                client.setReading(false)  // until admitted: its Tversion waits in the buffer
                return false
            }
            holdsConnectSlot = true
        }
        return dialBackend()
    }

    /// A connect slot came free for this session (from another session's handler: go on from the
    /// loop, not inside it).
    func admitted() {
        connectTicket = nil
        holdsConnectSlot = true
        _ = loop.schedule(after: 0) { [weak self] in
            guard let self else { return }
            guard self.clientOpen else { return self.releaseConnectSlot() }
            // Something else may have pumped the client (and dialed) meanwhile: the slot is then
            // held until the server answers, as for any dial.
            if self.backend == nil { self.pumpClient() }
        }
    }

    /// The server answered (so it accepted the connection), or the session ends.
    func releaseConnectSlot() {
        guard holdsConnectSlot else { return }
        holdsConnectSlot = false
        loop.connectGate.release()
    }

    /// Connects to the file server when the client's first frame is ready, not at accept: a
    /// connection that never speaks costs no backend connection (and no process, for `exec:`).
    func dialBackend() -> Bool {
        do {
            let dialed = try dialer.dial(on: loop)
            if let process = dialed.process {
                logger.debug("file server started", metadata: ["pid": "\(process.pid)"])
                serverProcess = process
            }
            let backend: Connection
            do {
                backend = try Connection(loop: loop, transport: PlainTransport(fd: dialed.fd), connecting: dialed.connecting)
            } catch {
                Foundation.close(dialed.fd)   // an exec: server sees EOF and exits
                throw error
            }
            backend.delegate = self
            backend.lingersOnClose = true
            self.backend = backend
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

    /// Whether another client frame may be handled now: the session is not waiting on a version
    /// exchange nor holding `queueLimit` bytes of requests, neither outbound queue is over its
    /// bound, and the client is not being closed. Frames already read stay in the input buffer
    /// until this is true again.
    var canTakeClientFrames: Bool {
        core.acceptsClientFrames && queuesHaveRoom && !client.isClosing
    }

    var queuesHaveRoom: Bool {
        client.output.count <= settings.queueLimit && (backend?.output.count ?? 0) <= settings.queueLimit
    }

    func pumpClient() {
        sendHeld()
        // A client being closed (a fatal frame) gets nothing more handled, even what it already
        // sent: `canTakeClientFrames` is false for it.
        while canTakeClientFrames && !client.isClosed && !clientBytesAreSpliced {
            let frame: UnsafeMutableRawBufferPointer
            do {
                guard let next = try client.input.nextFrame(limit: core.clientFrameLimit, reserving: false) else {
                    if upload != nil || !startUpload() { client.input.reserveRestOfFrame() }
                    break
                }
                frame = next
            } catch {
                core.rejectFrame(tag: error.tag, error: error.reason)
                closeClient(reason: "\(error.reason)")
                break
            }
            if backend == nil && !startBackend() { return }
            settings.metrics.request(frame.load(fromByteOffset: 4, as: UInt8.self))
            settings.metrics.bytesIn.add(frame.count)
            core.clientFrame(frame)
            client.input.consume(frame.count)
            watch.frameEnded(at: .now)
        }
        flushAndBalance()
    }

    func pumpBackend() {
        guard let backend else { return }
        while !backend.isClosed && !backendBytesAreSpliced {
            let frame: UnsafeMutableRawBufferPointer
            do {
                guard let next = try backend.input.nextFrame(limit: core.backendFrameLimit, reserving: false) else {
                    if download != nil || !startDownload(from: backend) { backend.input.reserveRestOfFrame() }
                    break
                }
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
        // Replies may have made room at the server for held requests, and so for requests that were
        // left waiting in the client's buffer.
        sendHeld()
        if clientOpen && !client.input.isEmpty && canTakeClientFrames {
            pumpClient()
        } else {
            flushAndBalance()
        }
    }

    /// Requests held for room at the server go out only while their replies have somewhere to go,
    /// and not for a client being closed. Called where room can appear: after replies (pumpBackend),
    /// and when a queue has drained (connectionDidDrain, pumpClient).
    func sendHeld() {
        if queuesHaveRoom && !client.isClosing { core.sendHeld() }
    }

    func flushAndBalance() {
        reportFids()
        // Fids and requests per identity before the replies go: a client that saw an Rclunk may
        // use the room at once from another session, maybe on another loop.
        core.settleTotals()
        backend?.flush()
        client.flush()
        core.settleBudgets(buffered: client.input.count &+ client.output.count &+ (backend.map { $0.input.count &+ $0.output.count } ?? 0))
        client.setReading(canTakeClientFrames)
        core.wakeWhenPaced()
        watchReset()
    }

    /// A mid-session Tversion waits for the server to answer the flushes of what was outstanding,
    /// and reads nothing more from the client meanwhile. diod answers a flush only once its
    /// request ends, so one request blocked there (an open of a FIFO) would stall the session for
    /// good: the reset gets `drain-timeout` (≥ 1 s), like the cleanup after a client leaves, and past it
    /// the session is closed (the server drops its fids with the connection).
    func watchReset() {
        guard core.isResetting else {
            resetTimer?.cancel()
            resetTimer = nil
            return
        }
        guard resetTimer == nil else { return }
        // At least 1 s: with drain-timeout 0 (leave at once) a reset could never finish.
        resetTimer = loop.schedule(after: max(settings.drainTimeoutMilliseconds, 1_000)) { [weak self] in
            guard let self, self.core.isResetting, let backend = self.backend, !backend.isClosed else { return }
            self.logger.warning("file server did not finish the Tversion reset in time; closing the session")
            if self.closeReason == nil { self.closeReason = "Tversion reset timed out" }
            backend.close()
        }
    }

    // MARK: SessionHost

    func sendToBackend(_ frame: UnsafeRawBufferPointer) {
        if frame.count > NineP.twriteHeaderSize, frame[4] == MessageType.Twrite.rawValue {
            // Twrite data the gateway holds in memory: the client's, or its own (a piece, a commit).
            payload.writtenCopied &+= frame.count &- NineP.twriteHeaderSize
            settings.metrics.bytesWrittenCopied.add(frame.count &- NineP.twriteHeaderSize)
        }
        backend?.enqueue(frame)
    }

    /// Not while a client's Twrite is spliced in (`canQueueFile` says so): its payload must follow
    /// its head, and the file's data could not go before it.
    var sendsFileData: Bool { backend?.canQueueFile == true }

    func sendToBackend(_ head: UnsafeRawBufferPointer, data: FileData) {
        guard let backend else { return }
        backend.enqueue(head, writeThrough: false)
        backend.enqueueFile(data.fd, offset: data.offset, count: data.count, owner: data.owner)
        payload.writtenZeroCopy &+= data.count
        settings.metrics.bytesWrittenZeroCopy.add(data.count)
    }

    func sendToClient(_ frame: UnsafeRawBufferPointer) {
        settings.metrics.bytesOut.add(frame.count)
        if frame.count > NineP.rreadHeaderSize, frame[4] == MessageType.Rread.rawValue {
            payload.readCopied &+= frame.count &- NineP.rreadHeaderSize
            settings.metrics.bytesReadCopied.add(frame.count &- NineP.rreadHeaderSize)
        } else if frame.count >= 7, frame[4] == MessageType.Rlerror.rawValue || frame[4] == MessageType.Rerror.rawValue {
            settings.metrics.errorReply(errno: Self.errno(ofErrorReply: frame))
        }
        client.enqueue(frame)
    }

    /// An Rlerror's ecode, or a 9P2000.u Rerror's trailing errno; nil for a 9P2000 Rerror (text only).
    static func errno(ofErrorReply frame: UnsafeRawBufferPointer) -> UInt32? {
        func u32(_ offset: Int) -> UInt32 {
            UInt32(frame[offset]) | UInt32(frame[offset + 1]) << 8 | UInt32(frame[offset + 2]) << 16 | UInt32(frame[offset + 3]) << 24
        }
        if frame[4] == MessageType.Rlerror.rawValue { return frame.count >= 11 ? u32(7) : nil }
        // Rerror: ename[s] then, in 9P2000.u, errno[4].
        guard frame.count >= 9 else { return nil }
        let end = 9 &+ (Int(frame[7]) | Int(frame[8]) << 8)
        return frame.count == end &+ 4 ? u32(end) : nil
    }

    func serverAnswered(_ type: MessageType, after seconds: Double, failed: Bool) {
        settings.metrics.replyLatency.observe(seconds)
        if failed { settings.metrics.serverError(type.rawValue) }
    }

    func closeClient(reason: String) {
        // Once closing, later reasons (more bad frames, more stray replies) change nothing.
        guard clientOpen, !client.isClosing else { return }
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

    /// How long an `exec:` server gets to exit by itself once its session has ended.
    static let serverExitGraceMilliseconds: UInt64 = 2_000

    /// How long a closing client gets to take its last replies.
    static let closeGraceMilliseconds: UInt64 = 2_000

    func closeBackend() {
        backend?.closeAfterFlush()
    }

    func refused(_ error: ProxyError, tag: UInt16) {
        settings.metrics.gatewayErrors.add(1)
        logger.debug("request refused", metadata: ["tag": "\(tag)", "error": "\(error)"])
    }

    func tokenAccepted() { settings.metrics.capabilityValidations.add(1) }

    func audit(_ event: AuditEvent) {
        settings.metrics.event(event)
        if event.kind == .tokenRejected || event.kind == .invalidCapability {
            settings.metrics.capabilityRejections.add(1)
        }
        if event.logged { settings.audit.record(event, session: sessionNumber, peer: peer, identity: identity) }
    }

    var clientIdentity: ClientIdentity { identity }

    /// The peer's address without its port (and without an IPv6 address's brackets).
    var peerHost: String? {
        guard let colon = peer.lastIndex(of: ":") else { return nil }
        return peer[..<colon].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
    }

    var backendName: String { routeName ?? "default" }

    // MARK: ConnectionDelegate

    func connectionDidRead(_ connection: Connection) {
        if connection === client {
            watch.clientSentBytes(at: .now)
            pumpClient()
        } else {
            releaseConnectSlot()
            pumpBackend()
        }
    }

    func connectionDidDrain(_ connection: Connection) {
        // A queue that drained may let held requests go (pumpClient sends them first too).
        if clientOpen && !client.input.isEmpty {
            pumpClient()
        } else {
            sendHeld()
            flushAndBalance()
        }
    }

    func connectionCanSplice(_ connection: Connection) {
        if let upload, upload.source === connection || upload.target === connection { advance(upload) }
        if let spillUpload, spillUpload.source === connection { advance(spillUpload) }
        if let download, download.source === connection || download.target === connection { advance(download) }
    }

    func connectionDidEstablish(_ connection: Connection) {
        guard connection === client, let tls = client.transport as? TLSTransport else { return }
        if let verified = tls.certificateIdentity {
            identity = verified
            guard countConnection(as: verified.description) else { return }
            applyBudgets()
        }
        // The backend is dialed at the first Tversion, which comes only now: the route decides it.
        let serverName = tls.serverName
        if let serverName, let routed = routes[serverName] {
            dialer = routed
            routeName = serverName
        }
        logger.info("TLS established", metadata: [
            "protocol": "\(tls.protocolVersion)", "cipher": "\(tls.cipher)", "alpn": "\(tls.alpn ?? "none")",
            "identity": "\(identity)", "server_name": "\(serverName ?? "none")", "backend": "\(dialer.spec)",
            "ktls": "\(tls.kernelOffload)",
        ])
    }

    func connectionDidClose(_ connection: Connection, error: Int32?) {
        if connection === client {
            if let summary = client.transport.failureSummary, closeReason == nil {
                closeReason = summary
                if !client.transport.isEstablished {
                    logger.warning("TLS handshake failed", metadata: ["reason": "\(client.transport.failureReason ?? "")"])
                    settings.metrics.handshakeFailures.add(1)
                }
            }
            if let spillUpload, !spillUpload.sourceReleased {
                // What went into the spill file is dropped with the rest of what the fid held.
                forget(spillUpload)
            }
            if let upload, !upload.sourceReleased {
                self.upload = nil
                if upload.target != nil, let backend, !backend.isClosed {
                    // The server holds part of a Twrite that will never be finished: no cleanup
                    // can follow it on that connection, and closing it makes the server drop the fids.
                    if closeReason == nil { closeReason = Self.clientLeftMidWrite }
                    logger.warning("\(Self.clientLeftMidWrite); closing the other side too")
                    backend.close()
                }
            }
            logger.debug("client connection ended; cleaning up", metadata: ["requests_at_server": "\(core.tags.outstanding)"])
            core.clientClosed()
            backend?.flush()
            if let download {
                download.dropTarget()
                advance(download)
            }
            // Also when the cleanup is done already: a backend still connecting (to a server that
            // drops SYNs) would otherwise keep the session, and its slot, for TCP's connect timeout.
            if backendOpen {
                drainTimer = loop.schedule(after: settings.drainTimeoutMilliseconds) { [weak self] in
                    guard let self, self.backendOpen else { return }
                    self.logger.warning("file server did not answer the cleanup in time; closing it")
                    self.backend?.close()
                }
            }
        } else {
            if let error, closeReason == nil { closeReason = "file server: \(String(cString: strerror(error)))" }
            // The server left while the client was still there: whole frames were handled as they
            // came, so what is left in the buffer is part of a reply.
            if closeReason == nil, clientOpen, !connection.input.isEmpty { closeReason = Self.backendLeftMidReply }
            if upload != nil {
                // The rest of the client's Twrite has nowhere to go; the client is closed below.
                upload = nil
                client.endSpliceSource()
            }
            if let download, !download.sourceReleased {
                self.download = nil
                // The client holds part of an Rread that will never be finished.
                if download.target != nil {
                    if closeReason == nil { closeReason = Self.backendLeftMidReply }
                    logger.warning("\(Self.backendLeftMidReply); closing the other side too")
                    client.close()
                }
            }
            core.backendClosed()
        }
        finishIfDone()
    }
}
