import Testing
@testable import Gateway
import NineP
import Pebble

/// Read-ahead on a session over a recording host (a client at 64 KiB, a server at 8 KiB): a fid
/// read sequentially gets its next reads made ahead once the server says the file is regular, and
/// the client's next read is answered from them; a broken run, a change to the file, a clunk or
/// age drop them; a FIFO or a `--no-read-ahead` path is never read ahead.
@Suite("Read-ahead on a session")
struct ReadAheadTests {
    final class Clock: @unchecked Sendable { var now = 0.0 }

    static let content = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

    static func opened(never: [String] = [], clock: Clock = Clock(), names: [WireString] = ["f"]) throws -> (SessionHarness, UInt32) {
        var access = ProxySession.Access()
        access.readAhead = .init(maxBytes: 16_000, never: PathGlobRule(globs: never))
        access.monotonicNow = { clock.now }
        access.fileGenerations = FileGenerations()
        return try BridgingTests.opened(access: access, names: names)
    }

    /// The server's answer to a read of `content`.
    static func answer(_ read: Tread) -> RMessage {
        let start = min(Int(read.offset), content.count), end = min(start + Int(read.count), content.count)
        return .read(Rread(data: Array(content[start..<end])))
    }

    static func expected(_ offset: Int, _ count: Int, tag: UInt16) -> Frame<RMessage> {
        Frame(tag: tag, message: answer(Tread(fid: 0, offset: UInt64(offset), count: UInt32(count))))
    }

    /// Two sequential client reads of 4000 bytes (tags 5, 6), answered; returns what the second
    /// sent besides its read (the getattr that asks what the file is).
    static func startRun(_ harness: SessionHarness) throws -> [Frame<TMessage>] {
        for (index, tag) in [UInt16(5), 6].enumerated() {
            harness.clientSends(tag: tag, .read(Tread(fid: 2, offset: UInt64(index * 4000), count: 4000)))
            var sent = try harness.backendReceived()
            let read = try #require(sent.first { if case .read = $0.message { true } else { false } })
            sent.removeAll { $0.tag == read.tag }
            guard case let .read(tread) = read.message else { return [] }
            harness.backendSends(tag: read.tag, answer(tread))
            #expect(try harness.clientReceived() == [expected(index * 4000, 4000, tag: tag)])
            if index == 1 { return sent }
        }
        return []
    }

    static func regular(_ mode: UInt32 = 0o100644, size: Int = content.count) -> RMessage {
        var attributes = SessionHarness.sampleGetattr
        attributes.mode = mode
        attributes.size = UInt64(size)
        return .getattr(attributes)
    }

    @Test("the second sequential read asks what the file is; a regular file's next reads are made ahead and answer the client")
    func sequentialRun() throws {
        let (harness, backendFid) = try Self.opened()
        let probe = try Self.startRun(harness)
        #expect(probe.map(\.message) == [.getattr(Tgetattr(fid: backendFid, requestMask: 0x201))])
        harness.backendSends(tag: probe[0].tag, Self.regular())
        let ahead = try harness.backendReceived()
        // --read-ahead-max 16000: four reads of the run's size, from where it stands.
        #expect(ahead.map(\.message) == [8000, 12000, 16000, 20000].map { .read(Tread(fid: backendFid, offset: $0, count: 4000)) })
        for frame in ahead { if case let .read(read) = frame.message { harness.backendSends(tag: frame.tag, Self.answer(read)) } }
        #expect(try harness.clientReceived().isEmpty)

        // The client's next read is answered at once, and one more read is made ahead.
        harness.clientSends(tag: 7, .read(Tread(fid: 2, offset: 8000, count: 4000)))
        #expect(try harness.clientReceived() == [Self.expected(8000, 4000, tag: 7)])
        let next = try harness.backendReceived()
        #expect(next.map(\.message) == [.read(Tread(fid: backendFid, offset: 24000, count: 4000))])
        #expect(harness.session.stats.readAheadHits == 1)

        // A read made ahead and not yet answered: the client's read waits for it.
        harness.clientSends(tag: 8, .read(Tread(fid: 2, offset: 12000, count: 4000)))
        #expect(try harness.clientReceived() == [Self.expected(12000, 4000, tag: 8)])
        let more = try harness.backendReceived()
        harness.clientSends(tag: 9, .read(Tread(fid: 2, offset: 16000, count: 4000)))
        harness.clientSends(tag: 10, .read(Tread(fid: 2, offset: 20000, count: 4000)))
        harness.clientSends(tag: 11, .read(Tread(fid: 2, offset: 24000, count: 4000)))
        let waiting = try harness.clientReceived()
        #expect(waiting == [Self.expected(16000, 4000, tag: 9), Self.expected(20000, 4000, tag: 10)])
        let pending = next + more + (try harness.backendReceived())
        for frame in pending { if case let .read(read) = frame.message { harness.backendSends(tag: frame.tag, Self.answer(read)) } }
        #expect(try harness.clientReceived() == [Self.expected(24000, 4000, tag: 11)])
    }

    @Test("nothing is read ahead from the file's size (as the server's getattr gave it) on")
    func endOfFile() throws {
        let (harness, backendFid) = try Self.opened()
        let probe = try Self.startRun(harness)
        harness.backendSends(tag: probe[0].tag, Self.regular(size: 13_000))
        #expect(try harness.backendReceived().map(\.message) == [8000, 12000].map { .read(Tread(fid: backendFid, offset: $0, count: 4000)) })
    }

    @Test("a read that breaks the run is forwarded, and what was read ahead is dropped")
    func brokenRun() throws {
        let (harness, backendFid) = try Self.opened()
        let probe = try Self.startRun(harness)
        harness.backendSends(tag: probe[0].tag, Self.regular())
        let ahead = try harness.backendReceived()
        #expect(ahead.count == 4)
        let jump = try harness.forward(tag: 7, .read(Tread(fid: 2, offset: 50000, count: 4000)))
        #expect(jump.message == .read(Tread(fid: backendFid, offset: 50000, count: 4000)))
        #expect(harness.session.splits.isEmpty, "the reads made ahead are forgotten")
        // Their late answers reach nobody.
        for frame in ahead { if case let .read(read) = frame.message { harness.backendSends(tag: frame.tag, Self.answer(read)) } }
        harness.backendSends(tag: jump.tag, Self.answer(Tread(fid: 0, offset: 50000, count: 4000)))
        #expect(try harness.clientReceived() == [Self.expected(50000, 4000, tag: 7)])
        #expect(harness.session.splitBytes == 0 && harness.session.tags.outstanding == 0)
    }

    @Test("a FIFO (the server's getattr says so) and a --no-read-ahead path are never read ahead")
    func neverReadAhead() throws {
        let (fifo, _) = try Self.opened()
        let probe = try Self.startRun(fifo)
        fifo.backendSends(tag: probe[0].tag, Self.regular(0o010644))
        #expect(try fifo.backendReceived().isEmpty)
        _ = try fifo.forward(tag: 7, .read(Tread(fid: 2, offset: 8000, count: 4000)))

        let (control, _) = try Self.opened(never: ["ctl"], names: ["ctl"])
        #expect(try Self.startRun(control).isEmpty, "no getattr: the path says no")
        _ = try control.forward(tag: 7, .read(Tread(fid: 2, offset: 8000, count: 4000)))
    }

    @Test("a write to the file (through any fid), age past 50 ms, or a clunk: what was read ahead is not used")
    func dropped() throws {
        let clock = Clock()
        let (harness, backendFid) = try Self.opened(clock: clock)
        let probe = try Self.startRun(harness)
        harness.backendSends(tag: probe[0].tag, Self.regular())
        for frame in try harness.backendReceived() { if case let .read(read) = frame.message { harness.backendSends(tag: frame.tag, Self.answer(read)) } }

        // Another fid open on the same file (its Rlopen names the same qid) writes to it.
        try harness.walk(fid: 1, newfid: 3, names: ["f"], tag: 20)
        let open = try harness.forward(tag: 21, .lopen(Tlopen(fid: 3, flags: 2)))
        harness.backendSends(tag: open.tag, .lopen(Rlopen(qid: SessionHarness.fileQid, iounit: 0)))
        _ = try harness.clientReceived()
        let write = try harness.forward(tag: 22, .write(Twrite(fid: 3, offset: 8000, data: [1, 2, 3])))
        harness.backendSends(tag: write.tag, .write(Rwrite(count: 3)))
        _ = try harness.clientReceived()
        // The client's read goes to the server (first), and the run's reads are made ahead again.
        harness.clientSends(tag: 7, .read(Tread(fid: 2, offset: 8000, count: 4000)))
        #expect(try harness.clientReceived().isEmpty, "the read made ahead before the write is not used")
        var sent = try harness.backendReceived()
        #expect(sent.first?.message == .read(Tread(fid: backendFid, offset: 8000, count: 4000)))
        #expect(sent.count == 5)
        for frame in sent { if case let .read(read) = frame.message { harness.backendSends(tag: frame.tag, Self.answer(read)) } }
        #expect(try harness.clientReceived() == [Self.expected(8000, 4000, tag: 7)])

        // Reads made ahead 51 ms ago are too old.
        clock.now += 0.051
        harness.clientSends(tag: 8, .read(Tread(fid: 2, offset: 12000, count: 4000)))
        #expect(try harness.clientReceived().isEmpty)
        sent = try harness.backendReceived()
        #expect(sent.first?.message == .read(Tread(fid: backendFid, offset: 12000, count: 4000)))
        for frame in sent { if case let .read(read) = frame.message { harness.backendSends(tag: frame.tag, Self.answer(read)) } }
        #expect(try harness.clientReceived() == [Self.expected(12000, 4000, tag: 8)])

        // A clunk forgets the fid's reads ahead (they were made again, and answered).
        #expect(!harness.session.splits.isEmpty)
        _ = try harness.forward(tag: 9, .clunk(Tclunk(fid: 2)))
        #expect(harness.session.readAhead[backendFid] == nil && harness.session.splits.isEmpty && harness.session.splitBytes == 0)
    }
}
