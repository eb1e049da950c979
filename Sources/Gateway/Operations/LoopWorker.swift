import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A connection one loop accepted and another takes (`LoopBalance`): the socket and, on a TLS
/// endpoint, the TLS material its handshake uses.
struct AcceptedConnection: Sendable {
    let fd: Int32
    let tls: TLSServerMaterial?
}

/// Everything one loop owns: its listener and its sessions. Made on the main thread, then run on
/// its own; after `run()` starts, only `requestShutdown()` may be called from elsewhere.
final class LoopWorker: @unchecked Sendable {
    private let loop: EventLoop
    /// This loop's listening socket for each endpoint, with the TLS context of a TLS one.
    private let listening: [(fd: Int32, tls: TLSServerMaterial?)]
    private let makeSession: SessionMaker
    private let logger: Logger
    /// Shared with the other loops: one slot per open session, gateway-wide.
    private let slots: SessionSlots
    private var sessions: [ObjectIdentifier: LoopSession] = [:]
    private var listeners: [Listener] = []
    private var wakeup: LoopWakeup?
    /// Woken (from any loop) when a session slot is this loop's to take.
    private var slotWakeup: LoopWakeup?
    /// Token ids revoked at a reload, for this loop's sessions (`requestRevocation`).
    private let revoked = Mutex<Set<String>>([])
    private var revokeWakeup: LoopWakeup?
    /// Shared with the other loops: which loop a new connection goes to.
    private let balance: LoopBalance<AcceptedConnection>
    /// Woken (from any loop) when a connection was handed to this loop.
    private var handOffWakeup: LoopWakeup?
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

    init(index: Int, listening: [(fd: Int32, tls: TLSServerMaterial?)], makeSession: @escaping SessionMaker, logger: Logger,
         connectLimit: Int, slots: SessionSlots, balance: LoopBalance<AcceptedConnection>,
         onDrained: @escaping @Sendable () -> Void) {
        loop = EventLoop(index: index, connectLimit: connectLimit)
        self.index = index
        self.listening = listening
        self.slots = slots
        self.balance = balance
        self.makeSession = makeSession
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
        revokeWakeup = LoopWakeup(loop: loop) { [unowned self] in
            let ids = self.revoked.withLock { ids in
                defer { ids.removeAll() }
                return ids
            }
            for session in Array(self.sessions.values) { session.revoke(tokenIDs: ids) }
        }
        let handOffWakeup = LoopWakeup(loop: loop) { [unowned self] in
            for connection in self.balance.take(loop: self.index) { self.start(connection) }
        }
        self.handOffWakeup = handOffWakeup
        balance.register(loop: index) { handOffWakeup.send() }
    }

    func run() {
        listeners = listening.map { fd, tls in
            Listener(loop: loop, loopIndex: index, fd: fd, slots: slots, onAccept: { [unowned self] clientFd in
                self.accept(AcceptedConnection(fd: clientFd, tls: tls))
            }, onPause: { [logger] reason in
                switch reason {
                case let .error(error):
                    logger.warning("accept paused", metadata: ["error": "\(String(cString: strerror(error)))"])
                case let .sessionLimit(limit, times):
                    logger.warning("session limit reached: new connections wait until a session ends",
                                   metadata: ["max_conns": "\(limit)", "times_reached": "\(times)"])
                case let .memoryCeiling(limit, held):
                    logger.warning("memory ceiling reached: new connections wait until sessions hold less",
                                   metadata: ["max_memory": "\(limit)", "held": "\(held)"])
                }
            })
        }
        loop.run()
    }

    /// Safe from any thread: asks the loop to stop accepting and drain its sessions.
    func requestShutdown() { wakeup?.send() }

    /// Safe from any thread: the loop's sessions that attached with one of these tokens end.
    func requestRevocation(_ tokenIDs: Set<String>) {
        revoked.withLock { $0.formUnion(tokenIDs) }
        revokeWakeup?.send()
    }

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
        revokeWakeup?.close()
        handOffWakeup?.close()
        handOffWakeup = nil
        for connection in balance.leave(loop: index) {
            Foundation.close(connection.fd)
            slots.give()
        }
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

    /// A connection this loop's listener accepted: started here, or handed to a loop with fewer.
    private func accept(_ connection: AcceptedConnection) {
        configureStreamSocket(connection.fd, isTCP: true)
        if let kept = balance.place(connection, acceptedBy: index) { start(kept) }
    }

    /// Starts the session of a connection this loop owns (its slot taken, counted in `balance`).
    private func start(_ connection: AcceptedConnection) {
        let fd = connection.fd
        let transport: any Transport
        if let tls = connection.tls {
            guard let secured = TLSTransport(server: tls.current, fd: fd) else {
                logger.error("connection refused", metadata: ["error": "cannot start TLS: \(openSSLErrors())"])
                Foundation.close(fd)
                refused()
                return
            }
            transport = secured
        } else {
            transport = PlainTransport(fd: fd)
        }
        let session: LoopSession
        do {
            session = try makeSession(loop, transport) { [unowned self] finished in
                self.sessions[ObjectIdentifier(finished)] = nil
                self.slots.give()
                self.balance.finished(loop: self.index)
                if let process = finished.serverProcess, !process.exited {
                    self.lingering.removeAll { $0.exited }
                    self.lingering.append(process)
                }
                self.finishIfDrained()
            }
        } catch {
            logger.error("connection refused", metadata: ["error": "\(error)"])
            transport.close()
            refused()
            return
        }
        sessions[ObjectIdentifier(session)] = session
        session.start()
    }

    /// A connection of this loop ended before it became a session.
    private func refused() {
        slots.give()
        balance.finished(loop: index)
    }
}
