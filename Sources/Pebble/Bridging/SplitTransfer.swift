/// One client Tread or Twrite larger than the file server can carry, cut into pieces the server
/// can (msize bridging), and the one answer they make together. Pure: the session sends the
/// pieces and settles them as their replies come, in any order.
///
/// The answer is what a single request of the client's size would have said had the server taken
/// it: the contiguous prefix. A read returns the data up to the first short or failed piece; a
/// write counts the bytes up to the first short or failed piece. Only a failure of the first piece
/// is the client's error; a later one only shortens the answer (a short read or write, which every
/// client handles by asking again from there, when it will see the error itself).
public struct SplitTransfer<Failure> {
    public struct Piece: Equatable, Sendable {
        public var offset: UInt64
        public var count: UInt32
    }

    /// What became of one piece.
    public enum Outcome {
        /// At the server (or waiting for room there).
        case pending
        /// A read piece's byte count (at most its count; the caller keeps the bytes).
        case read(UInt32)
        /// A write piece's count (at most its count).
        case wrote(UInt32)
        case failed(Failure)
        /// Flushed before the server answered it: it did nothing.
        case flushed
    }

    /// The answer, once every piece has settled.
    public enum Answer {
        /// How many bytes from the start the answer carries (a read's data, a write's count).
        case read(UInt32)
        case wrote(UInt32)
        case failed(Failure)
        /// The first piece was flushed: nothing to answer (the client's Tflush is answered alone).
        case nothing
    }

    /// A Twrite's pieces (else a Tread's).
    public let isWrite: Bool
    public let pieces: [Piece]
    public private(set) var outcomes: [Outcome]
    public private(set) var unsettled: Int

    /// Cuts `count` bytes at `offset` into pieces of `pieceSize` at consecutive offsets (one, when
    /// it fits); nil for nothing to cut, or when the range would pass the largest offset (then the
    /// server answers the request as it is, with the error it has for that).
    public init?(write isWrite: Bool, offset: UInt64, count: UInt32, pieceSize: UInt32) {
        guard pieceSize > 0, count > 0 else { return nil }
        let (end, overflow) = offset.addingReportingOverflow(UInt64(count))
        guard !overflow else { return nil }
        var pieces: [Piece] = []
        var at = offset
        while at < end {
            let size = UInt32(min(UInt64(pieceSize), end - at))
            pieces.append(Piece(offset: at, count: size))
            at += UInt64(size)
        }
        self.isWrite = isWrite
        self.pieces = pieces
        outcomes = Array(repeating: .pending, count: pieces.count)
        unsettled = pieces.count
    }

    public var isSettled: Bool { unsettled == 0 }

    /// Whether piece `index` still waits for the server.
    public func isPending(_ index: Int) -> Bool {
        if case .pending = outcomes[index] { return true }
        return false
    }

    /// Records what became of piece `index`. A piece settles once: a second outcome is ignored.
    /// Returns false when the outcome cannot be (more data or a larger count than the piece asked
    /// for): the caller settles it as failed instead.
    @discardableResult
    public mutating func settle(_ index: Int, _ outcome: Outcome) -> Bool {
        guard outcomes.indices.contains(index), isPending(index) else { return true }
        switch outcome {
        case let .read(count) where count > pieces[index].count: return false
        case let .wrote(count) where count > pieces[index].count: return false
        case .pending: return true
        default: break
        }
        outcomes[index] = outcome
        unsettled -= 1
        return true
    }

    /// The answer; meaningful once `isSettled`.
    public var answer: Answer {
        var done: UInt32 = 0
        var prefix: Answer { isWrite ? .wrote(done) : .read(done) }
        for (index, outcome) in outcomes.enumerated() {
            switch outcome {
            case let .read(count), let .wrote(count):
                done += count
                if count < pieces[index].count { return prefix }
            case let .failed(failure):
                return index == 0 ? .failed(failure) : prefix
            case .flushed, .pending:
                return index == 0 ? .nothing : prefix
            }
        }
        return prefix
    }
}
