import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// `--loops` event loops (by default one per core, at least 4), each accepting on its own
/// SO_REUSEPORT socket for every address, running until SIGINT or SIGTERM and then draining its
/// sessions: what `serve` and `tunnel` share. What a connection becomes is the caller's `SessionMaker`.
///
/// Why SO_REUSEPORT rather than one acceptor handing fds to loops: the kernel spreads new
/// connections over the sockets with no cross-thread hand-off, so no loop ever touches another's
/// state. Its hash is fair only over many connections, so `LoopBalance` evens out the few: a loop
/// that accepts while another has fewer connections hands the fd over (the only hand-off).
struct ServerLoops {
    var endpoints: [ListenEndpoint]
    var loops: Int
    var maxConns: Int
    /// `--max-memory` (nil: none).
    var memory: MemoryCeiling? = nil
    /// Seconds sessions may take to drain when the process stops.
    var drainTimeout: Int
    let logger: Logger

    /// One endpoint's listening sockets, one per loop, and the address bound (port 0 resolved).
    struct BoundEndpoint {
        let endpoint: ListenEndpoint
        let address: String
        let fds: [Int32]
    }

    /// Binds every loop's socket for every endpoint. (On a failure the sockets bound so far are
    /// left to the process's exit, which follows.)
    func bind() throws -> [BoundEndpoint] {
        try endpoints.map { endpoint in
            var address = try SocketAddress.resolve(hostPort: endpoint.address)
            if address.port != 0 { try Listener.ensureUnused(address) }
            var fds: [Int32] = []
            for index in 0..<loops {
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

    /// Binds, runs the loops on their own threads, logs "listening" with `metadata` (and the
    /// addresses), and makes the calling thread wait for a stop signal; then drains and exits.
    /// SIGHUP calls `reload` (and goes on serving); sessions that attached with a token id it
    /// returns are ended.
    func run(tls: TLSServerMaterial?, metadata: Logger.Metadata, reload: (() -> Set<String>)? = nil,
             makeSession: @escaping SessionMaker) throws -> Never {
        signal(SIGPIPE, SIG_IGN)
        let fileLimit = raiseFileLimit()
        // Past the file limit, accepting pauses on EMFILE and connects to the server fail: say so now.
        let needed = fdsNeeded(maxConns: maxConns, loops: loops)
        if let fileLimit, fileLimit < needed {
            logger.warning("the file limit is below what max-conns needs; lower max-conns or raise the limit (ulimit -n)", metadata: [
                "max_conns": "\(maxConns)", "fds_needed": "\(needed)", "file_limit": "\(fileLimit)",
            ])
        }
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        var handled = stopSignals
        sigaddset(&handled, SIGHUP)
        // Blocked before the threads start, so only the sigwait below ever sees them; and nothing
        // else is: a mask inherited from whatever started us (a test runner, a supervisor) could
        // block SIGCHLD, and then libuv never reaps an exec: server.
        pthread_sigmask(SIG_SETMASK, &handled, nil)

        let bound = try bind()
        let drained = DispatchGroup()
        let slots = SessionSlots(limit: maxConns, memory: memory)
        let balance = LoopBalance<AcceptedConnection>(loops: loops)
        var workers: [LoopWorker] = []
        for index in 0..<loops {
            drained.enter()
            let worker = LoopWorker(index: index, listening: bound.map { ($0.fds[index], $0.endpoint.tls ? tls : nil) },
                                    makeSession: makeSession, logger: logger,
                                    connectLimit: max(1, Self.connectsAtOnce / loops), slots: slots, balance: balance) {
                drained.leave()
            }
            workers.append(worker)
            let thread = Thread { worker.run() }
            thread.name = "pebble9p-loop-\(index)"
            thread.start()
        }
        let addresses = { (tls: Bool) in bound.filter { $0.endpoint.tls == tls }.map(\.address).joined(separator: ",") }
        logger.info("listening", metadata: metadata.merging([
            "address": "\(addresses(false))", "tls_address": "\(addresses(true))", "loops": "\(loops)", "max_conns": "\(maxConns)",
        ]) { $1 })
        var received: Int32 = 0
        while true {
            sigwait(&handled, &received)
            guard received == SIGHUP else { break }
            guard let reload else {
                logger.info("SIGHUP: nothing to reload")
                continue
            }
            let revoked = reload()
            if !revoked.isEmpty { for worker in workers { worker.requestRevocation(revoked) } }
        }
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
        let deadline = DispatchTime.now() + .seconds(drainTimeout + 3) + .milliseconds(Int(LoopWorker.lingerMilliseconds))
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

