import Synchronization

/// Open sessions per client (`--max-conns-per-client`): by source address, and by verified
/// identity, over every loop.
final class ConnectionCounts: Sendable {
    let limit: Int
    private let counts = Mutex<[String: Int]>([:])

    init(limit: Int) { self.limit = limit }

    /// Counts one more session for `key`, unless it already has `limit`.
    func tryAdd(_ key: String) -> Bool {
        counts.withLock { counts in
            let current = counts[key, default: 0]
            guard current < limit else { return false }
            counts[key] = current + 1
            return true
        }
    }

    func remove(_ key: String) {
        counts.withLock { counts in
            guard let current = counts[key] else { return }
            counts[key] = current > 1 ? current - 1 : nil
        }
    }

    func count(_ key: String) -> Int { counts.withLock { $0[key, default: 0] } }
}
