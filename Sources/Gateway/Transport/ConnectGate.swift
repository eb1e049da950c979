/// Lets a loop's sessions connect to the file server a few at a time.
///
/// A burst of clients (a hundred Tversions at once) would otherwise become a burst of SYNs at the
/// server. diod listens with a backlog of 5: the kernel drops the SYNs beyond it, and each dropped
/// connect waits out TCP's retransmits (1 s, 3 s, 7 s …). Measured: 100 Tversions sent at once
/// through the gateway, 28 unanswered after 10 s; straight to diod, all answered in 2 ms. A slot is
/// held until the server first answers (it has then accepted the connection), so no more than
/// `limit` of a loop's connects can wait in the server's backlog at once (the loops share
/// `GatewayServer.connectsAtOnce`). Waiters are admitted in arrival order.
final class ConnectGate {
    private let limit: Int
    private var inUse = 0
    private var waiting: [(id: UInt64, admit: () -> Void)] = []
    private var nextID: UInt64 = 0

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot if one is free and nobody waits for one.
    func tryAcquire() -> Bool {
        guard inUse < limit, waiting.isEmpty else { return false }
        inUse += 1
        return true
    }

    /// Queues for a slot; `admit` runs (holding it) when an earlier holder releases one.
    func wait(_ admit: @escaping () -> Void) -> UInt64 {
        nextID &+= 1
        waiting.append((nextID, admit))
        return nextID
    }

    /// Leaves the queue without a slot.
    func cancel(_ id: UInt64) {
        waiting.removeAll { $0.id == id }
    }

    /// Gives a slot back; the next waiter, if any, gets it.
    func release() {
        guard !waiting.isEmpty else {
            inUse -= 1
            return
        }
        waiting.removeFirst().admit()
    }
}
