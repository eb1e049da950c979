import Testing
@testable import Gateway
import NineP
import Pebble
import TestSupport

/// msize bridging on a session over a recording host: a client at 64 KiB in front of a server at
/// 8 KiB. Large reads and writes on an open file go as pieces and come back as one answer; other
/// requests are cut or refused; opens tell the client its own iounit.
@Suite("msize bridging on a session")
struct BridgingTests {
    static let clientMsize: UInt32 = 65536
    static let backendMsize: UInt32 = 8192
    static let unit = Int(backendMsize) - NineP.ioHeaderSize

    /// Fid 2 walked to a regular file and opened read-write; returns the harness and its backend fid.
    static func opened(limits: ProxySession.Limits = .init(), access: ProxySession.Access = .init(), qid: Qid = SessionHarness.fileQid,
                       iounit: UInt32 = backendMsize - 24, names: [WireString] = ["f"]) throws -> (SessionHarness, UInt32) {
        let harness = SessionHarness(limits: limits, access: access)
        try harness.negotiate(msize: clientMsize, backendMsize: backendMsize)
        try harness.attach(fid: 1)
        let backendFid = try harness.walk(fid: 1, newfid: 2, names: names)
        let open = try harness.forward(tag: 3, .lopen(Tlopen(fid: 2, flags: 2)))
        harness.backendSends(tag: open.tag, .lopen(Rlopen(qid: qid, iounit: iounit)))
        let expected = iounit >= backendMsize - 24 ? clientMsize - 24 : iounit
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: .lopen(Rlopen(qid: qid, iounit: expected)))])
        return (harness, backendFid)
    }

    @Test("the client keeps its msize; with bridging off it gets the server's")
    func negotiation() throws {
        let bridged = SessionHarness()
        try bridged.negotiate(msize: Self.clientMsize, backendMsize: Self.backendMsize)
        #expect(bridged.session.msize == Self.clientMsize)
        #expect(bridged.session.backendMsize == Self.backendMsize)
        #expect(bridged.session.clientFrameLimit == Self.clientMsize)
        #expect(bridged.session.backendFrameLimit == Self.backendMsize)

        var limits = ProxySession.Limits()
        limits.bridgeMsize = false
        let plain = SessionHarness(limits: limits)
        try plain.negotiate(msize: Self.clientMsize, backendMsize: Self.backendMsize)
        #expect(plain.session.msize == Self.backendMsize)
    }

    @Test("an open's iounit for the server's msize becomes the client's; a smaller one stays")
    func iounit() throws {
        _ = try Self.opened(iounit: Self.backendMsize - 24)
        _ = try Self.opened(iounit: 512)
        _ = try Self.opened(iounit: 0)
    }

    @Test("a large read goes as pieces at consecutive offsets, answered in any order, and comes back whole")
    func splitRead() throws {
        let (harness, backendFid) = try Self.opened()
        harness.clientSends(tag: 5, .read(Tread(fid: 2, offset: 5, count: 20000)))
        let pieces = try harness.backendReceived()
        #expect(pieces.map(\.message) == [
            .read(Tread(fid: backendFid, offset: 5, count: 8168)),
            .read(Tread(fid: backendFid, offset: 8173, count: 8168)),
            .read(Tread(fid: backendFid, offset: 16341, count: 3664)),
        ])
        let content = (0..<20000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
        harness.backendSends(tag: pieces[2].tag, .read(Rread(data: Array(content[16336...]))))
        harness.backendSends(tag: pieces[0].tag, .read(Rread(data: Array(content[..<8168]))))
        #expect(try harness.clientReceived().isEmpty, "answered before every piece settled")
        harness.backendSends(tag: pieces[1].tag, .read(Rread(data: Array(content[8168..<16336]))))
        #expect(try harness.clientReceived() == [Frame(tag: 5, message: .read(Rread(data: content)))])
        #expect(harness.session.splits.isEmpty && harness.session.splitBytes == 0)
        #expect(harness.session.tags.outstanding == 0 && harness.session.tags.replyBytesExpected == 0)
    }

    @Test("a read ends at the first short piece; an error in a later piece shortens it, in the first is the answer")
    func shortAndFailedPieces() throws {
        let (harness, _) = try Self.opened()
        harness.clientSends(tag: 5, .read(Tread(fid: 2, offset: 0, count: 30000)))
        var pieces = try harness.backendReceived()
        #expect(pieces.count == 4)
        harness.backendSends(tag: pieces[0].tag, .read(Rread(data: Array(repeating: 1, count: 8168))))
        harness.backendSends(tag: pieces[1].tag, .read(Rread(data: Array(repeating: 2, count: 100))))
        harness.backendSends(tag: pieces[2].tag, .read(Rread(data: Array(repeating: 3, count: 8168))))
        harness.backendSends(tag: pieces[3].tag, .lerror(Rlerror(ecode: 5)))
        #expect(try harness.clientReceived() == [Frame(tag: 5, message: .read(Rread(data: Array(repeating: 1, count: 8168) + Array(repeating: 2, count: 100))))])

        harness.clientSends(tag: 6, .read(Tread(fid: 2, offset: 0, count: 20000)))
        pieces = try harness.backendReceived()
        harness.backendSends(tag: pieces[1].tag, .read(Rread(data: Array(repeating: 2, count: 8168))))
        harness.backendSends(tag: pieces[0].tag, .lerror(Rlerror(ecode: 13)))
        harness.backendSends(tag: pieces[2].tag, .read(Rread(data: [])))
        #expect(try harness.clientReceived() == [Frame(tag: 6, message: .lerror(Rlerror(ecode: 13)))])

        // More than a piece asked for: the server is broken, and the client hears EIO.
        harness.clientSends(tag: 7, .read(Tread(fid: 2, offset: 0, count: 10000)))
        pieces = try harness.backendReceived()
        harness.backendSends(tag: pieces[0].tag, .read(Rread(data: Array(repeating: 1, count: 8169))))
        harness.backendSends(tag: pieces[1].tag, .read(Rread(data: [])))
        #expect(try harness.clientReceived() == [harness.errorReply(.badBackendReply, tag: 7)])
    }

    @Test("a large write goes as pieces carrying its data in order; Rwrite counts the contiguous prefix")
    func splitWrite() throws {
        let (harness, backendFid) = try Self.opened()
        let data = (0..<20000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        harness.clientSends(tag: 5, .write(Twrite(fid: 2, offset: 100, data: data)))
        var pieces = try harness.backendReceived()
        #expect(pieces.map(\.message) == [
            .write(Twrite(fid: backendFid, offset: 100, data: Array(data[..<8168]))),
            .write(Twrite(fid: backendFid, offset: 8268, data: Array(data[8168..<16336]))),
            .write(Twrite(fid: backendFid, offset: 16436, data: Array(data[16336...]))),
        ])
        harness.backendSends(tag: pieces[1].tag, .write(Rwrite(count: 8168)))
        harness.backendSends(tag: pieces[2].tag, .write(Rwrite(count: 3664)))
        harness.backendSends(tag: pieces[0].tag, .write(Rwrite(count: 8168)))
        #expect(try harness.clientReceived() == [Frame(tag: 5, message: .write(Rwrite(count: 20000)))])

        harness.clientSends(tag: 5, .write(Twrite(fid: 2, offset: 0, data: data)))
        pieces = try harness.backendReceived()
        harness.backendSends(tag: pieces[0].tag, .write(Rwrite(count: 8168)))
        harness.backendSends(tag: pieces[1].tag, .lerror(Rlerror(ecode: 28)))
        harness.backendSends(tag: pieces[2].tag, .write(Rwrite(count: 3664)))
        #expect(try harness.clientReceived() == [Frame(tag: 5, message: .write(Rwrite(count: 8168)))])
        #expect(harness.session.tags.bytesReserved == 0)
    }

    @Test("a Tflush of a split request flushes every piece at the server, and is answered once they all settled")
    func flushInTheMiddle() throws {
        var limits = ProxySession.Limits()
        limits.maxInFlight = 2
        let (harness, _) = try Self.opened(limits: limits)
        harness.clientSends(tag: 5, .read(Tread(fid: 2, offset: 0, count: 40000)))
        let pieces = try harness.backendReceived()
        #expect(pieces.count == 2, "max-inflight 2: the other pieces wait")
        harness.backendSends(tag: pieces[0].tag, .read(Rread(data: Array(repeating: 1, count: 8168))))
        let third = try harness.backendReceived()
        #expect(third.count == 1)
        harness.clientSends(tag: 6, .flush(Tflush(oldtag: 5)))
        let flushes = try harness.backendReceived()
        #expect(Set(flushes.compactMap { $0.message.flush?.oldtag }) == [pieces[1].tag, third[0].tag], "the held pieces are dropped, not sent")
        #expect(try harness.clientReceived().isEmpty)
        // The server answers one piece before its flush, and flushes the other.
        harness.backendSends(tag: pieces[1].tag, .read(Rread(data: Array(repeating: 2, count: 8168))))
        for flush in flushes { harness.backendSends(tag: flush.tag, .flush(Rflush())) }
        #expect(try harness.clientReceived() == [
            Frame(tag: 5, message: .read(Rread(data: Array(repeating: 1, count: 8168) + Array(repeating: 2, count: 8168)))),
            Frame(tag: 6, message: .flush(Rflush())),
        ])
        #expect(try harness.backendReceived().isEmpty)
        #expect(harness.session.splits.isEmpty && harness.session.tags.outstanding == 0)
        // The tag is free again.
        harness.clientSends(tag: 5, .read(Tread(fid: 2, offset: 0, count: 100)))
        #expect(try harness.backendReceived().count == 1)
    }

    @Test("a request becomes at most 64 pieces: past them it is a short read or write")
    func pieceCap() throws {
        let harness = SessionHarness()
        try harness.negotiate(msize: 1 << 20, backendMsize: Self.backendMsize)
        try harness.attach(fid: 1)
        try harness.walk(fid: 1, newfid: 2, names: ["f"])
        let open = try harness.forward(tag: 3, .lopen(Tlopen(fid: 2, flags: 2)))
        harness.backendSends(tag: open.tag, .lopen(Rlopen(qid: SessionHarness.fileQid, iounit: 0)))
        _ = try harness.clientReceived()
        let data = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0) }
        harness.clientSends(tag: 5, .write(Twrite(fid: 2, offset: 0, data: data)))
        let pieces = try harness.backendReceived()
        #expect(pieces.count == 64)
        for piece in pieces {
            guard case let .write(write) = piece.message else { continue }
            harness.backendSends(tag: piece.tag, .write(Rwrite(count: UInt32(write.data.count))))
        }
        #expect(try harness.clientReceived() == [Frame(tag: 5, message: .write(Rwrite(count: UInt32(64 * Self.unit))))])
    }

    @Test("9P2000.u: a file's large read goes as pieces; a directory's (stats) is cut, never split; Ropen's iounit is the client's")
    func unixDialect() throws {
        let harness = SessionHarness(dialect: .unix)
        try harness.negotiate(.unix, msize: Self.clientMsize, backendMsize: Self.backendMsize)
        try harness.attach(fid: 1)
        let file = try harness.walk(fid: 1, newfid: 2, names: ["f"])
        let open = try harness.forward(tag: 3, .open(Topen(fid: 2, mode: 0)))
        harness.backendSends(tag: open.tag, .open(Ropen(qid: SessionHarness.fileQid, iounit: Self.backendMsize - 24)))
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: .open(Ropen(qid: SessionHarness.fileQid, iounit: Self.clientMsize - 24)))])
        harness.clientSends(tag: 4, .read(Tread(fid: 2, offset: 0, count: 10000)))
        let pieces = try harness.backendReceived()
        #expect(pieces.map(\.message) == [.read(Tread(fid: file, offset: 0, count: 8168)), .read(Tread(fid: file, offset: 8168, count: 1832))])
        harness.backendSends(tag: pieces[1].tag, .read(Rread(data: Array(repeating: 2, count: 1832))))
        harness.backendSends(tag: pieces[0].tag, .read(Rread(data: Array(repeating: 1, count: 8168))))
        #expect(try harness.clientReceived() == [Frame(tag: 4, message: .read(Rread(data: Array(repeating: 1, count: 8168) + Array(repeating: 2, count: 1832))))])

        let directory = try harness.walk(fid: 1, newfid: 3, names: ["d"], tag: 5)
        let openDirectory = try harness.forward(tag: 6, .open(Topen(fid: 3, mode: 0)))
        harness.backendSends(tag: openDirectory.tag, .open(Ropen(qid: SessionHarness.rootQid, iounit: 0)))
        _ = try harness.clientReceived()
        let list = try harness.forward(tag: 7, .read(Tread(fid: 3, offset: 0, count: 60000)))
        #expect(list.message == .read(Tread(fid: directory, offset: 0, count: UInt32(Self.unit))), "stats are never split")
    }

    @Test("the client's tag stays in use while its pieces are out")
    func tagInUse() throws {
        let (harness, _) = try Self.opened()
        harness.clientSends(tag: 5, .read(Tread(fid: 2, offset: 0, count: 20000)))
        _ = try harness.backendReceived()
        harness.clientSends(tag: 5, .read(Tread(fid: 2, offset: 0, count: 10)))
        #expect(harness.host.closeClientReasons.contains { $0.contains("tag 5 reused") })
    }

    @Test("directory reads and other fids' reads are cut to the server's size; a request that cannot fit is refused")
    func capsAndRefusals() throws {
        let (harness, _) = try Self.opened()
        try harness.walk(fid: 1, newfid: 3, names: ["d"], tag: 10)
        let open = try harness.forward(tag: 11, .lopen(Tlopen(fid: 3, flags: 0)))
        harness.backendSends(tag: open.tag, .lopen(Rlopen(qid: SessionHarness.rootQid, iounit: 0)))
        _ = try harness.clientReceived()
        let readdir = try harness.forward(tag: 12, .readdir(Treaddir(fid: 3, offset: 0, count: 60000)))
        #expect(readdir.message.readdirCount == UInt32(Self.unit))

        // A write to an append-only file is cut, never split (the pieces would land out of order).
        let (appending, _) = try Self.opened(qid: Qid(type: Qid.appendOnly, version: 0, path: 7))
        let write = try appending.forward(tag: 5, .write(Twrite(fid: 2, offset: 0, data: Array(repeating: 9, count: 20000))))
        #expect(write.message == .write(Twrite(fid: write.message.writeFid ?? 0, offset: 0, data: Array(repeating: 9, count: Self.unit))))
        appending.backendSends(tag: write.tag, .write(Rwrite(count: UInt32(Self.unit))))
        #expect(try appending.clientReceived() == [Frame(tag: 5, message: .write(Rwrite(count: UInt32(Self.unit))))])

        // A walk of 16 long names is larger than the server's msize.
        let names = (0..<16).map { WireString(String(repeating: "n", count: 600 + $0)) }
        let refused = try harness.answeredLocally(tag: 13, .walk(Twalk(fid: 1, newfid: 4, wnames: names)))
        #expect(refused == [Frame(tag: 13, message: .lerror(Rlerror(ecode: 90)))])
    }

    /// Up to `count` bytes of `file` from `start`, as a read there returns.
    static func slice(_ file: [UInt8], _ start: Int, _ count: Int) -> [UInt8] {
        Array(file[min(start, file.count)..<min(start + count, file.count)])
    }

    /// A reply in a few words (a read's data by its length).
    static func summary(_ frame: Frame<RMessage>) -> String {
        if case let .read(read) = frame.message { return "Rread(\(read.data.count) bytes)" }
        return "\(frame.message)"
    }

    /// What the model server does with one piece.
    enum Fate { case full, short(Int), failed }

    @Test("a model: random reads and writes, pieces answered in random order, short, failed or flushed", arguments: 0..<200)
    func model(seed: Int) throws {
        var random = SplitMix64(seed: UInt64(seed) &* 7_919 &+ 3)
        var limits = ProxySession.Limits()
        limits.maxInFlight = 1 + random.below(8)
        let (harness, _) = try Self.opened(limits: limits)
        var file = (0..<random.below(40000)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        for _ in 0..<8 {
            let isWrite = random.below(2) == 0
            let offset = random.below(45000)
            let count = 1 + random.below(isWrite ? Int(Self.clientMsize) - 24 : Int(Self.clientMsize) - 11)
            let data = (0..<(isWrite ? count : 0)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            harness.clientSends(tag: 5, isWrite ? .write(Twrite(fid: 2, offset: UInt64(offset), data: data))
                                                : .read(Tread(fid: 2, offset: UInt64(offset), count: UInt32(count))))
            let pieceCount = (count + Self.unit - 1) / Self.unit
            var fates: [Int: Fate] = [:]
            var pieceOfTag: [UInt16: Int] = [:]
            var outstanding = try harness.backendReceived()
            let flushAfter = random.below(3) == 0 ? random.below(pieceCount + 1) : nil
            var answered = 0, flushed = false
            while true {
                if let flushAfter, !flushed, answered >= flushAfter, pieceCount > 1 {
                    flushed = true
                    harness.clientSends(tag: 6, .flush(Tflush(oldtag: 5)))
                    outstanding += try harness.backendReceived()
                    continue
                }
                guard !outstanding.isEmpty else { break }
                let frame = outstanding.remove(at: random.below(outstanding.count))
                if let flush = frame.message.flush {
                    // Answered before the flush, or never.
                    if let at = outstanding.firstIndex(where: { $0.tag == flush.oldtag }), random.below(2) == 0 {
                        let piece = outstanding.remove(at: at)
                        answer(piece)
                    } else {
                        outstanding.removeAll { $0.tag == flush.oldtag }
                    }
                    harness.backendSends(tag: frame.tag, .flush(Rflush()))
                } else {
                    answer(frame)
                }
                outstanding += try harness.backendReceived()
            }

            func answer(_ frame: Frame<TMessage>) {
                answered += 1
                let fate: Fate = switch random.below(10) { case 0: .failed; case 1: .short(random.below(Self.unit)); default: .full }
                switch frame.message {
                case let .read(read):
                    let index = (Int(read.offset) - offset) / Self.unit
                    pieceOfTag[frame.tag] = index
                    let start = min(Int(read.offset), file.count), end = min(Int(read.offset) + Int(read.count), file.count)
                    var bytes = Array(file[start..<end])
                    if case let .short(n) = fate { bytes = Array(bytes.prefix(n)) }
                    fates[index] = bytes.count < Int(read.count) ? .short(bytes.count) : .full
                    if case .failed = fate { fates[index] = .failed }
                    harness.backendSends(tag: frame.tag, fates[index].map { if case .failed = $0 { .lerror(Rlerror(ecode: 5)) } else { .read(Rread(data: bytes)) } }!)
                case let .write(write):
                    let index = (Int(write.offset) - offset) / Self.unit
                    let start = Int(write.offset) - offset
                    #expect(write.data == Array(data[start..<(start + write.data.count)]), "piece \(index) carries the client's bytes for its offset")
                    var done = write.data.count
                    if case let .short(n) = fate { done = min(n, done) } else if case .failed = fate { done = 0 }
                    if case .failed = fate { fates[index] = .failed } else { fates[index] = done < write.data.count ? .short(done) : .full }
                    if done > 0 {
                        let at = Int(write.offset)
                        if file.count < at + done { file += Array(repeating: 0, count: at + done - file.count) }
                        file.replaceSubrange(at..<(at + done), with: write.data[..<done])
                    }
                    harness.backendSends(tag: frame.tag, { if case .failed = fate { .lerror(Rlerror(ecode: 28)) } else { .write(Rwrite(count: UInt32(done))) } }())
                default:
                    Issue.record("unexpected \(frame.message)")
                }
            }

            // What one request of that size would have said: the prefix up to the first short,
            // failed or flushed piece; the first piece's error; nothing when it was flushed.
            var expected: RMessage?
            var bytes: [UInt8] = [], total = 0
            loop: for index in 0..<pieceCount {
                let pieceStart = offset + index * Self.unit
                let pieceCount = min(Self.unit, count - index * Self.unit)
                switch fates[index] {
                case .full?:
                    if !isWrite { bytes += Self.slice(file, pieceStart, pieceCount) }
                    total += pieceCount
                    expected = isWrite ? .write(Rwrite(count: UInt32(total))) : .read(Rread(data: bytes))
                case let .short(n)?:
                    if !isWrite { bytes += Self.slice(file, pieceStart, n) }
                    total += n
                    expected = isWrite ? .write(Rwrite(count: UInt32(total))) : .read(Rread(data: bytes))
                    break loop
                case .failed?:
                    if index == 0 { expected = isWrite ? .lerror(Rlerror(ecode: 28)) : .lerror(Rlerror(ecode: 5)) }
                    break loop
                case nil:
                    break loop
                }
            }
            var replies = try harness.clientReceived()
            if flushed, pieceCount > 1 {
                #expect(replies.last == Frame(tag: 6, message: .flush(Rflush())), "seed \(seed)")
                replies.removeLast()
            }
            let wanted = expected.map { [Frame(tag: 5, message: $0)] } ?? []
            #expect(replies == wanted, "seed \(seed): \(isWrite ? "write" : "read") of \(count) at \(offset) in a file of \(file.count): got \(replies.map(Self.summary)), wanted \(wanted.map(Self.summary)); fates \(fates.sorted { $0.key < $1.key })")
            #expect(harness.session.splits.isEmpty && harness.session.splitBytes == 0)
            #expect(harness.session.tags.outstanding == 0 && harness.session.tags.bytesReserved == 0 && harness.session.tags.replyBytesExpected == 0)
            #expect(harness.session.held.isEmpty)
        }
    }
}

extension TMessage {
    var readdirCount: UInt32? { if case let .readdir(message) = self { message.count } else { nil } }
}
