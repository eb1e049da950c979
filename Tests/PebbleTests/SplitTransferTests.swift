import Testing
import Pebble

/// Cutting a read or write into pieces for a server with a smaller msize, and the one answer.
@Suite("Split transfers")
struct SplitTransferTests {
    typealias Transfer = SplitTransfer<String>

    @Test("pieces cover the range at consecutive offsets; a range past the largest offset is no split")
    func pieces() throws {
        let transfer = try #require(Transfer(write: false, offset: 10, count: 25, pieceSize: 10))
        #expect(transfer.pieces.map(\.offset) == [10, 20, 30])
        #expect(transfer.pieces.map(\.count) == [10, 10, 5])
        #expect(Transfer(write: false, offset: 0, count: 10, pieceSize: 10)?.pieces.count == 1)
        #expect(Transfer(write: false, offset: 0, count: 0, pieceSize: 10) == nil)
        #expect(Transfer(write: true, offset: UInt64.max - 5, count: 20, pieceSize: 10) == nil)
        #expect(Transfer(write: true, offset: 0, count: 20, pieceSize: 0) == nil)
    }

    @Test("a read answers the data up to the first short, failed or flushed piece; the first piece's error is the answer")
    func readAnswers() throws {
        var transfer = try #require(Transfer(write: false, offset: 0, count: 30, pieceSize: 10))
        transfer.settle(2, .read(10))
        transfer.settle(0, .read(10))
        #expect(!transfer.isSettled)
        transfer.settle(1, .read(4))
        #expect(transfer.isSettled)
        guard case .read(14) = transfer.answer else { Issue.record("the prefix up to the short piece: \(transfer.answer)"); return }

        var failed = try #require(Transfer(write: false, offset: 0, count: 20, pieceSize: 10))
        failed.settle(1, .read(10))
        failed.settle(0, .failed("EIO"))
        guard case .failed("EIO") = failed.answer else { Issue.record("the first piece's error"); return }

        var flushed = try #require(Transfer(write: false, offset: 0, count: 20, pieceSize: 10))
        flushed.settle(0, .flushed)
        flushed.settle(1, .read(1))
        guard case .nothing = flushed.answer else { Issue.record("nothing for a flushed first piece"); return }
    }

    @Test("a write counts the contiguous prefix; more than a piece asked for is refused, and a piece settles once")
    func writeAnswers() throws {
        var transfer = try #require(Transfer(write: true, offset: 0, count: 30, pieceSize: 10))
        let tooMuch = transfer.settle(0, .wrote(11))
        #expect(!tooMuch, "more than asked for")
        let settled = transfer.settle(0, .wrote(10))
        #expect(settled)
        transfer.settle(0, .failed("late"))
        transfer.settle(1, .failed("ENOSPC"))
        transfer.settle(2, .wrote(10))
        guard case .wrote(10) = transfer.answer else { Issue.record("the prefix before the failure: \(transfer.answer)"); return }
        let again = transfer.settle(1, .read(11))
        #expect(again, "a settled piece ignores a second outcome")
    }
}

/// A fid's run of sequential reads and what is read ahead of it.
@Suite("Read-ahead window")
struct ReadAheadWindowTests {
    @Test("a run starts at the second read of one size at consecutive offsets; what is wanted fills the window")
    func run() {
        var window = ReadAheadWindow<Int>()
        guard case .pass = window.clientRead(offset: 0, count: 100) else { Issue.record("first read"); return }
        #expect(window.wanted(maxBytes: 1000, maxReads: 8).isEmpty, "one read is no run")
        _ = window.clientRead(offset: 100, count: 100)
        #expect(window.wanted(maxBytes: 350, maxReads: 8) == [200, 300, 400])
        #expect(window.wanted(maxBytes: 10_000, maxReads: 2) == [200, 300])
        window.madeAhead(offset: 200, handle: 1)
        window.madeAhead(offset: 300, handle: 2)
        guard case .take(1) = window.clientRead(offset: 200, count: 100) else { Issue.record("the read made ahead"); return }
        #expect(window.wanted(maxBytes: 300, maxReads: 8) == [400, 500])
    }

    @Test("a read at another offset or of another size breaks the run and drops what was ahead; a stop holds until then")
    func breaks() {
        var window = ReadAheadWindow<Int>()
        _ = window.clientRead(offset: 0, count: 100)
        _ = window.clientRead(offset: 100, count: 100)
        window.madeAhead(offset: 200, handle: 7)
        window.stopped = true
        #expect(window.wanted(maxBytes: 1000, maxReads: 8).isEmpty)
        guard case let .pass(dropped) = window.clientRead(offset: 200, count: 50) else { Issue.record("another size"); return }
        #expect(dropped == [7])
        #expect(window.sequentialReads == 0 && !window.stopped)
        _ = window.clientRead(offset: UInt64.max - 10, count: 100)
        #expect(window.nextOffset == nil, "past the largest offset there is no next read")
    }
}
