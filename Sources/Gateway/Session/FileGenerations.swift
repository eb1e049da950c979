import Synchronization

/// Process-wide change counts of files, by qid path: what this gateway sends that changes a
/// file's data (a write, a truncation, a rename) bumps its count, on every loop, so a read made
/// ahead by any session (`ProxySession+ReadAhead`) is not used once the file changed after it was
/// sent. Paths share slots by hash (a collision only drops a read ahead for nothing); a file
/// whose qid is not known bumps every file at once.
final class FileGenerations: Sendable {
    static let shared = FileGenerations()

    private static let slotCount = 4096
    private let slots = Mutex<[UInt64]>(Array(repeating: 0, count: slotCount))
    private let everything = Atomic<UInt64>(0)

    /// The file's count now (with the count of changes to every file).
    func current(_ qidPath: UInt64) -> UInt64 {
        let slot = Self.slot(qidPath)
        return everything.load(ordering: .acquiring) &+ slots.withLock { $0[slot] }
    }

    /// This gateway changes the file with this qid path; nil: a file it cannot name.
    func bump(_ qidPath: UInt64?) {
        guard let qidPath else {
            everything.add(1, ordering: .releasing)
            return
        }
        let slot = Self.slot(qidPath)
        slots.withLock { $0[slot] &+= 1 }
    }

    private static func slot(_ qidPath: UInt64) -> Int {
        Int(truncatingIfNeeded: (qidPath &* 0x9E37_79B9_7F4A_7C15) >> 52) % slotCount
    }
}
