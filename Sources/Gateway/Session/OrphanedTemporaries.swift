import Synchronization

/// Blue temporaries this gateway process left behind: a streaming fid whose client died in the
/// middle of a spliced Twrite leaves its server connection unusable, so its session cannot remove
/// the temporary. The next session's commit in that directory removes the ones named here at once
/// (others only once nothing has written to them for a minute). Process-wide, bounded: past
/// `limit` names the oldest are forgotten (they are still removed by age).
final class OrphanedTemporaries: Sendable {
    static let shared = OrphanedTemporaries()
    static let limit = 4096

    private let names = Mutex<(set: Set<String>, order: [String])>(([], []))

    func add(_ name: String) {
        names.withLock { names in
            guard names.set.insert(name).inserted else { return }
            names.order.append(name)
            if names.order.count > Self.limit { names.set.remove(names.order.removeFirst()) }
        }
    }

    func contains(_ name: String) -> Bool { names.withLock { $0.set.contains(name) } }

    func remove(_ name: String) {
        names.withLock { names in
            if names.set.remove(name) != nil { names.order.removeAll { $0 == name } }
        }
    }
}
