import Testing
import Pebble

/// Cutting a read or write into pieces for a server with a smaller msize, and the one answer.
@Suite("Split transfers")
struct SplitTransferTests {
    typealias Transfer = SplitTransfer<String>

    @Test("pieces cover the range at consecutive offsets; one piece or a range past the largest offset is no split")
    func pieces() throws {
        let transfer = try #require(Transfer(write: false, offset: 10, count: 25, pieceSize: 10))
        #expect(transfer.pieces.map(\.offset) == [10, 20, 30])
        #expect(transfer.pieces.map(\.count) == [10, 10, 5])
        #expect(Transfer(write: false, offset: 0, count: 10, pieceSize: 10) == nil)
        #expect(Transfer(write: true, offset: UInt64.max - 5, count: 20, pieceSize: 10) == nil)
        #expect(Transfer(write: true, offset: 0, count: 20, pieceSize: 0) == nil)
    }

    @Test("a read answers the data up to the first short, failed or flushed piece; the first piece's error is the answer")
    func readAnswers() throws {
        var transfer = try #require(Transfer(write: false, offset: 0, count: 30, pieceSize: 10))
        transfer.settle(2, .read(Array(repeating: 3, count: 10)))
        transfer.settle(0, .read(Array(repeating: 1, count: 10)))
        #expect(!transfer.isSettled)
        transfer.settle(1, .read(Array(repeating: 2, count: 4)))
        #expect(transfer.isSettled)
        guard case let .read(data) = transfer.answer else { Issue.record("not a read"); return }
        #expect(data.flatMap { $0 } == Array(repeating: 1, count: 10) + Array(repeating: 2, count: 4))

        var failed = try #require(Transfer(write: false, offset: 0, count: 20, pieceSize: 10))
        failed.settle(1, .read(Array(repeating: 2, count: 10)))
        failed.settle(0, .failed("EIO"))
        guard case .failed("EIO") = failed.answer else { Issue.record("the first piece's error"); return }

        var flushed = try #require(Transfer(write: false, offset: 0, count: 20, pieceSize: 10))
        flushed.settle(0, .flushed)
        flushed.settle(1, .read([1]))
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
        let again = transfer.settle(1, .read(Array(repeating: 0, count: 11)))
        #expect(again, "a settled piece ignores a second outcome")
    }
}
