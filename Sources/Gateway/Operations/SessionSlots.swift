import Synchronization

/// The gateway-wide count of open sessions, shared by every loop, so `max-conns` bounds the
/// whole process (memory, fds, and with `exec:` one server process per session) however the
/// kernel spreads connections over the loops' sockets.
final class SessionSlots: Sendable {
    let limit: Int
    private let used = Mutex(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot for a connection about to be accepted; false when all are taken.
    func take() -> Bool {
        used.withLock { used in
            guard used < limit else { return false }
            used += 1
            return true
        }
    }

    /// Returns a slot: its session ended, or no connection was there to accept.
    func give() {
        used.withLock { used in
            assert(used > 0, "a session slot given back twice")
            used = max(0, used - 1)
        }
    }

    var inUse: Int { used.withLock { $0 } }
}
