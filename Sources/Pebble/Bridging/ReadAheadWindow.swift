/// One fid's run of sequential reads and the reads the gateway makes ahead of it: pure
/// bookkeeping (the session sends the reads, `Handle` names one). A run is two or more reads of
/// one size at consecutive offsets; a read that breaks it drops what was made ahead.
public struct ReadAheadWindow<Handle> {
    /// Where the run continues, and its read size.
    public private(set) var nextOffset: UInt64?
    public private(set) var readSize: UInt32 = 0
    /// Reads so far that continued the run (1: the second read of a run).
    public private(set) var sequentialReads = 0
    /// Reads made ahead, at consecutive offsets from `nextOffset`, each of `readSize` bytes.
    public private(set) var ahead: [(offset: UInt64, handle: Handle)] = []
    /// Set when a read ahead came back short or failed: nothing is read past it.
    public var stopped = false

    public init() {}

    public enum Decision {
        /// The read made ahead for exactly this read.
        case take(Handle)
        /// No read ahead answers it; these were made ahead for nothing.
        case pass(dropped: [Handle])
    }

    /// A client read of `count` bytes at `offset`.
    public mutating func clientRead(offset: UInt64, count: UInt32) -> Decision {
        let continues = nextOffset == offset && count == readSize && count > 0
        let (end, overflow) = offset.addingReportingOverflow(UInt64(count))
        nextOffset = overflow ? nil : end
        readSize = count
        if continues, let first = ahead.first, first.offset == offset {
            sequentialReads += 1
            ahead.removeFirst()
            return .take(first.handle)
        }
        sequentialReads = continues ? sequentialReads + 1 : 0
        stopped = false
        return .pass(dropped: dropAll())
    }

    /// Offsets to read ahead now, so that up to `maxBytes` (at most `maxReads` reads) are ahead of
    /// the run; none before the run has two reads, or once it stopped.
    public func wanted(maxBytes: Int, maxReads: Int) -> [UInt64] {
        guard sequentialReads >= 1, !stopped, let next = nextOffset, readSize > 0 else { return [] }
        let depth = min(maxReads, maxBytes / Int(readSize))
        var offsets: [UInt64] = []
        var at = ahead.last.map { $0.offset &+ UInt64(readSize) } ?? next
        while ahead.count + offsets.count < depth {
            let (following, overflow) = at.addingReportingOverflow(UInt64(readSize))
            guard !overflow else { break }
            offsets.append(at)
            at = following
        }
        return offsets
    }

    /// A read ahead was made at `offset` (the next of `wanted`).
    public mutating func madeAhead(offset: UInt64, handle: Handle) {
        ahead.append((offset, handle))
    }

    /// Forgets every read made ahead (the file changed, the fid is clunked …) and returns them;
    /// the run itself goes on.
    public mutating func dropAll() -> [Handle] {
        defer { ahead.removeAll() }
        return ahead.map(\.handle)
    }
}
