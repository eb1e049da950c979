import Synchronization

/// The gateway-wide count of open sessions, shared by every loop, so `max-conns` bounds the
/// whole process (memory, fds, and with `exec:` one server process per session) however the
/// kernel spreads connections over the loops' sockets.
///
/// Loops that found every slot taken queue here in the order they did, and a freed slot goes to
/// the first of them: it is woken (`register`'s closure, a `uv_async_send`) and is the only one
/// that may take it. Without the queue the loop whose session ended would take the slot straight
/// back for its own waiting connections, and another loop's could wait as long as that loop had
/// any (under a steady stream of connections, for good).
final class SessionSlots: Sendable {
    let limit: Int
    /// `--max-memory`: above it no new session is accepted (nil: no ceiling).
    let memory: MemoryCeiling?
    private struct State {
        var used = 0
        /// Loops waiting for a slot, by index, first come first.
        var waiting: [Int] = []
        /// How each loop is woken when a slot is its to take (safe from any thread).
        var wakers: [Int: @Sendable () -> Void] = [:]
    }
    private let state = Mutex(State())

    init(limit: Int, memory: MemoryCeiling? = nil) {
        self.limit = limit
        self.memory = memory
    }

    /// Sets how `loop` is woken when a slot is its to take. Call before the loops run.
    func register(loop: Int, wake: @escaping @Sendable () -> Void) {
        state.withLock { $0.wakers[loop] = wake }
    }

    /// Takes a slot for a connection `loop` is about to accept. False when none is free for it:
    /// all are taken, or another loop waits longer; `loop` then waits in line (once) and is woken
    /// when a slot is its to take.
    func take(loop: Int) -> Bool {
        let (taken, wake) = state.withLock { state -> (Bool, (@Sendable () -> Void)?) in
            guard state.used < limit, state.waiting.first.map({ $0 == loop }) ?? true else {
                if !state.waiting.contains(loop) { state.waiting.append(loop) }
                return (false, nil)
            }
            state.used += 1
            if state.waiting.first == loop { state.waiting.removeFirst() }
            // More than one slot may have been free: the next in line need not wait for a session end.
            return (true, nextToWake(state))
        }
        wake?()
        return taken
    }

    /// Returns a slot (its session ended, or no connection was there to accept) and wakes the loop
    /// that has waited longest for one.
    func give() {
        let wake = state.withLock { state -> (@Sendable () -> Void)? in
            assert(state.used > 0, "a session slot given back twice")
            state.used = max(0, state.used - 1)
            return nextToWake(state)
        }
        wake?()
    }

    /// `loop` accepts no more (its listener closed): it leaves the line, which may move on.
    func leave(loop: Int) {
        let wake = state.withLock { state -> (@Sendable () -> Void)? in
            state.waiting.removeAll { $0 == loop }
            return nextToWake(state)
        }
        wake?()
    }

    /// The first loop in line, when a slot is free for it.
    private func nextToWake(_ state: State) -> (@Sendable () -> Void)? {
        guard state.used < limit, let first = state.waiting.first else { return nil }
        return state.wakers[first]
    }

    var inUse: Int { state.withLock { $0.used } }
    var waiting: [Int] { state.withLock { $0.waiting } }
}

/// The gateway-wide ceiling on the bytes sessions hold (`--max-memory`): the sum of every
/// identity's byte ledger (`KeyedLedgers`). Above it new connections wait in the listen queue,
/// as for `max-conns`; sessions already open go on within their budgets.
struct MemoryCeiling: Sendable {
    let limit: Int
    let held: @Sendable () -> Int

    var isReached: Bool { held() >= limit }
}
