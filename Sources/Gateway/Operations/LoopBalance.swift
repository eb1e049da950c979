import Synchronization

/// Spreads connections evenly over the loops. Each loop accepts on its own SO_REUSEPORT socket,
/// and the kernel picks that socket by a hash of the connection's addresses: fair over thousands
/// of connections, but a few long-lived ones (9P mounts: one connection each) often land on one
/// loop while another core's loop has none. A loop that accepts a connection while another loop
/// has fewer connections hands it over (an fd in that loop's inbox and a `uv_async_send`); a tie
/// keeps it where it was accepted, so evenly spread traffic costs no hand-off.
///
/// Generic over what is handed over, so the rule is unit-tested without sockets.
final class LoopBalance<Connection: Sendable>: Sendable {
    private struct State {
        /// Connections each loop owns (accepted and kept, or handed to it), until they end.
        var counts: [Int]
        /// Loops that take connections; a stopping loop leaves and is never handed one again.
        var open: [Bool]
        /// Connections handed to each loop that it has not taken yet.
        var inbox: [[Connection]]
        /// How each loop is told its inbox has something (safe from any thread).
        var wakers: [(@Sendable () -> Void)?]
    }
    private let state: Mutex<State>

    init(loops: Int) {
        state = Mutex(State(counts: Array(repeating: 0, count: loops), open: Array(repeating: true, count: loops),
                            inbox: Array(repeating: [], count: loops), wakers: Array(repeating: nil, count: loops)))
    }

    /// Sets how `loop` is woken when a connection was handed to it. Call before the loops run.
    func register(loop: Int, wake: @escaping @Sendable () -> Void) {
        state.withLock { $0.wakers[loop] = wake }
    }

    /// `loop` accepted `connection`: returns it when `loop` keeps it (no open loop has fewer
    /// connections), or nil when it went to the inbox of the open loop with the fewest (the first
    /// such), which is woken.
    func place(_ connection: Connection, acceptedBy loop: Int) -> Connection? {
        let (handed, wake) = state.withLock { state -> (Bool, (@Sendable () -> Void)?) in
            var target = loop
            for other in state.counts.indices where state.open[other] && state.counts[other] < state.counts[target] {
                target = other
            }
            state.counts[target] += 1
            guard target != loop else { return (false, nil) }
            state.inbox[target].append(connection)
            return (true, state.wakers[target])
        }
        wake?()
        return handed ? nil : connection
    }

    /// The connections handed to `loop` since it last looked.
    func take(loop: Int) -> [Connection] {
        state.withLock { state in
            defer { state.inbox[loop].removeAll() }
            return state.inbox[loop]
        }
    }

    /// One of `loop`'s connections ended (or was refused before it became a session).
    func finished(loop: Int) {
        state.withLock { state in
            assert(state.counts[loop] > 0, "a connection of loop \(loop) finished twice")
            state.counts[loop] = max(0, state.counts[loop] - 1)
        }
    }

    /// `loop` stops taking connections: none is handed to it again. Returns those handed to it
    /// that it never took (the caller closes them).
    func leave(loop: Int) -> [Connection] {
        state.withLock { state in
            state.open[loop] = false
            state.counts[loop] -= state.inbox[loop].count
            defer { state.inbox[loop].removeAll() }
            return state.inbox[loop]
        }
    }

    /// Each loop's connections (for tests and logs).
    var counts: [Int] { state.withLock { $0.counts } }
}
