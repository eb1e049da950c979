import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Starts one event loop per configured core, each accepting on its own SO_REUSEPORT socket, and
/// runs until SIGINT or SIGTERM.
///
/// Why SO_REUSEPORT rather than one acceptor handing fds to loops: the kernel balances new
/// connections over the sockets with no cross-thread hand-off, so no loop ever touches another's
/// state and accept needs no `uv_async` round trip.
public final class GatewayServer: Sendable {
    public let config: GatewayConfig
    private let logger: Logger

    public init(config: GatewayConfig, logger: Logger) {
        self.config = config
        self.logger = logger
    }

    /// One endpoint's listening sockets, one per loop, and the address bound (port 0 resolved).
    struct BoundEndpoint {
        let endpoint: ListenEndpoint
        let address: String
        let fds: [Int32]
    }

    /// Binds every loop's socket for every endpoint. (On a failure the sockets bound so far are
    /// left to the process's exit, which follows.)
    func bind() throws -> [BoundEndpoint] {
        try config.endpoints.map { endpoint in
            var address = try SocketAddress.resolve(hostPort: endpoint.address)
            if address.port != 0 { try Listener.ensureUnused(address) }
            var fds: [Int32] = []
            for index in 0..<config.loops {
                let fd = try Listener.bind(address)
                if index == 0 && address.port == 0 {
                    address = address.with(port: Listener.boundPort(fd))
                }
                fds.append(fd)
            }
            return BoundEndpoint(endpoint: endpoint, address: address.description, fds: fds)
        }
    }

    /// Connects that may wait on the server's listen backlog at once, over all loops: below diod's
    /// backlog of 5 (see `ConnectGate`). With more loops than this, each still gets one.
    static let connectsAtOnce = 4

    /// Runs the loops on their own threads; the calling thread waits for a stop signal, then exits.
    public func run() throws -> Never {
        try config.validate()
        let backend = try config.resolvedBackend()
        let dialer = try BackendDialer(spec: backend)
        signal(SIGPIPE, SIG_IGN)
        let fileLimit = raiseFileLimit()
        // Past the file limit, accepting pauses on EMFILE and connects to the server fail: say so now.
        let needed = fdsNeeded(maxConns: config.maxConns, loops: config.loops)
        if let fileLimit, fileLimit < needed {
            logger.warning("the file limit is below what max-conns needs; lower max-conns or raise the limit (ulimit -n)", metadata: [
                "max_conns": "\(config.maxConns)", "fds_needed": "\(needed)", "file_limit": "\(fileLimit)",
            ])
        }
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        // Blocked before the threads start, so only the sigwait below ever sees them; and nothing
        // else is: a mask inherited from whatever started us (a test runner, a supervisor) could
        // block SIGCHLD, and then libuv never reaps an exec: server.
        pthread_sigmask(SIG_SETMASK, &stopSignals, nil)

        let tls = try config.tlsSettings.map { settings throws(ConfigError) in try TLSServerContext(settings) }
        let bound = try bind()
        let settings = GatewaySession.Settings(
            limits: ProxySession.Limits(maxMsize: config.maxMsize, maxFids: config.maxFids, maxInFlight: config.maxInFlight,
                                        maxReplyBytes: config.queueLimit, maxHeldBytes: config.queueLimit),
            queueLimit: config.queueLimit,
            drainTimeoutMilliseconds: UInt64(config.drainTimeout) * 1000,
            handshakeTimeoutMilliseconds: UInt64(config.handshakeTimeout) * 1000,
            spliceMinimum: config.spliceMinimum
        )
        let drained = DispatchGroup()
        let slots = SessionSlots(limit: config.maxConns)
        var workers: [LoopWorker] = []
        for index in 0..<config.loops {
            drained.enter()
            let worker = LoopWorker(index: index, listening: bound.map { ($0.fds[index], $0.endpoint.tls ? tls : nil) }, dialer: dialer,
                                    settings: settings, logger: logger,
                                    connectLimit: max(1, Self.connectsAtOnce / config.loops), slots: slots) {
                drained.leave()
            }
            workers.append(worker)
            let thread = Thread { worker.run() }
            thread.name = "pebble9p-loop-\(index)"
            thread.start()
        }
        let addresses = { (tls: Bool) in bound.filter { $0.endpoint.tls == tls }.map(\.address).joined(separator: ",") }
        logger.info("listening", metadata: [
            "address": "\(addresses(false))", "tls_address": "\(addresses(true))", "backend": "\(backend)", "loops": "\(config.loops)",
            "max_msize": "\(config.maxMsize)", "max_conns": "\(config.maxConns)",
        ])
        var received: Int32 = 0
        sigwait(&stopSignals, &received)
        // Stop accepting and drain: every session flushes, clunks its fids and closes its backend,
        // so no server is left with fids (or dies of SIGPIPE answering a socket we dropped).
        // A second signal, or the drain timeout, ends the process at once.
        logger.info("stopping: draining sessions", metadata: ["signal": "\(received)"])
        for worker in workers { worker.requestShutdown() }
        let signals = stopSignals
        Thread {
            var waitFor = signals
            var again: Int32 = 0
            sigwait(&waitFor, &again)
            exit(1)
        }.start()
        // The drain itself, a client's grace to take its last replies, exec: servers' time to exit,
        // and a second of slack so that a loop finishing on time is not cut off.
        let deadline = DispatchTime.now() + .seconds(config.drainTimeout + 3) + .milliseconds(Int(LoopWorker.lingerMilliseconds))
        if drained.wait(timeout: deadline) == .timedOut {
            logger.warning("stopping: sessions still draining at the deadline")
            exit(1)
        }
        logger.info("stopped")
        exit(0)
    }
}

/// Each session holds two fds; the default soft limit (1024) would cap the gateway near 500
/// sessions, so take the hard limit. Returns the limit now in force (nil if unknown).
private func raiseFileLimit() -> UInt64? {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 { _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) }
    }
    return UInt64(limit.rlim_cur)
}

/// Fds `max-conns` sessions need (client and server socket each) plus the loops' own.
func fdsNeeded(maxConns: Int, loops: Int) -> UInt64 {
    UInt64(maxConns) * 2 + UInt64(loops) * 8 + 32
}

/// Everything one loop owns: its listener and its sessions. Made on the main thread, then run on
/// its own; after `run()` starts, only `requestShutdown()` may be called from elsewhere.
final class LoopWorker: @unchecked Sendable {
    private let loop: EventLoop
    /// This loop's listening socket for each endpoint, with the TLS context of a TLS one.
    private let listening: [(fd: Int32, tls: TLSServerContext?)]
    private let dialer: BackendDialer
    private let settings: GatewaySession.Settings
    private let logger: Logger
    /// Shared with the other loops: one slot per open session, gateway-wide.
    private let slots: SessionSlots
    private var sessions: [ObjectIdentifier: GatewaySession] = [:]
    private var listeners: [Listener] = []
    private var wakeup: LoopWakeup?
    /// Woken (from any loop) when a session slot is this loop's to take.
    private var slotWakeup: LoopWakeup?
    private let index: Int
    private var shuttingDown = false
    /// `onDrained` runs once: a session can finish inside `shutdown()`'s loop (one that never got a
    /// backend closes at once), and the group it leaves must not be left twice.
    private var drainReported = false
    private let onDrained: @Sendable () -> Void
    /// `exec:` servers of finished sessions that have not exited yet: when stopping, the loop
    /// waits for them (each gets SIGTERM 2 s after its session), so none outlives the gateway.
    private var lingering: [ChildProcess] = []
    /// How long a stopping loop waits for lingering servers at most.
    static let lingerMilliseconds: UInt64 = 2_500
    private var lingerDeadline: ContinuousClock.Instant?

    init(index: Int, listening: [(fd: Int32, tls: TLSServerContext?)], dialer: BackendDialer, settings: GatewaySession.Settings, logger: Logger,
         connectLimit: Int, slots: SessionSlots, onDrained: @escaping @Sendable () -> Void) {
        loop = EventLoop(connectLimit: connectLimit)
        self.index = index
        self.listening = listening
        self.slots = slots
        self.dialer = dialer
        self.settings = settings
        self.onDrained = onDrained
        var logger = logger
        logger[metadataKey: "loop"] = "\(index)"
        self.logger = logger
        wakeup = LoopWakeup(loop: loop) { [unowned self] in self.shutdown() }
        let slotWakeup = LoopWakeup(loop: loop) { [unowned self] in
            for listener in self.listeners { listener.slotFreed() }
        }
        self.slotWakeup = slotWakeup
        slots.register(loop: index) { slotWakeup.send() }
    }

    func run() {
        listeners = listening.map { fd, tls in
            Listener(loop: loop, loopIndex: index, fd: fd, slots: slots, onAccept: { [unowned self] clientFd in
                self.accept(clientFd, tls: tls)
            }, onPause: { [logger] reason in
                switch reason {
                case let .error(error):
                    logger.warning("accept paused", metadata: ["error": "\(String(cString: strerror(error)))"])
                case let .sessionLimit(limit, times):
                    logger.warning("session limit reached: new connections wait until a session ends",
                                   metadata: ["max_conns": "\(limit)", "times_reached": "\(times)"])
                }
            })
        }
        loop.run()
    }

    /// Safe from any thread: asks the loop to stop accepting and drain its sessions.
    func requestShutdown() { wakeup?.send() }

    private func shutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        for listener in listeners { listener.close() }
        listeners.removeAll()
        slots.leave(loop: index)
        wakeup?.close()
        wakeup = nil
        slotWakeup?.close()
        slotWakeup = nil
        for session in Array(sessions.values) { session.shutdown() }
        finishIfDrained()
    }

    private func finishIfDrained() {
        guard shuttingDown, sessions.isEmpty, !drainReported else { return }
        lingering.removeAll { $0.exited }
        if !lingering.isEmpty {
            let deadline = lingerDeadline ?? .now + .milliseconds(Self.lingerMilliseconds)
            lingerDeadline = deadline
            if ContinuousClock.now < deadline {
                _ = loop.schedule(after: 50) { [unowned self] in self.finishIfDrained() }
                return
            }
            logger.warning("stopping with file servers still running", metadata: ["pids": "\(lingering.map(\.pid))"])
        }
        drainReported = true
        onDrained()
    }

    private func accept(_ fd: Int32, tls: TLSServerContext?) {
        configureStreamSocket(fd, isTCP: true)
        let transport: any Transport
        if let tls {
            guard let secured = TLSTransport(server: tls, fd: fd) else {
                logger.error("connection refused", metadata: ["error": "cannot start TLS: \(openSSLErrors())"])
                Foundation.close(fd)
                slots.give()
                return
            }
            transport = secured
        } else {
            transport = PlainTransport(fd: fd)
        }
        let session: GatewaySession
        do {
            session = try GatewaySession(loop: loop, client: transport, dialer: dialer, settings: settings, logger: logger) { [unowned self] finished in
                self.sessions[ObjectIdentifier(finished)] = nil
                self.slots.give()
                if let process = finished.serverProcess, !process.exited {
                    self.lingering.removeAll { $0.exited }
                    self.lingering.append(process)
                }
                self.finishIfDrained()
            }
        } catch {
            logger.error("connection refused", metadata: ["error": "\(error)"])
            transport.close()
            slots.give()
            return
        }
        sessions[ObjectIdentifier(session)] = session
        session.start()
    }
}
