import Testing
@testable import Gateway
import NineP
import Pebble
import TestSupport

/// The byte budget (`--quota`) on sessions over a recording host: what a request reserves, when it
/// is refused, and that every ledger is back at zero once the session is done.
@Suite("Byte quota on a session")
struct QuotaTests {
    /// A negotiated, attached session with fid 2 open for reading, under `limit` bytes and, if
    /// given, an identity ledger shared with other sessions.
    static func session(limit: Int, shared: KeyedLedgers? = nil, key: String = "addr:10.0.0.1",
                        limits: ProxySession.Limits = .init()) throws -> SessionHarness {
        let harness = SessionHarness(limits: limits)
        try harness.negotiate()
        try harness.attach(fid: 1)
        try harness.walk(fid: 1, newfid: 2, names: ["f"])
        let open = try harness.forward(tag: 3, .lopen(Tlopen(fid: 2, flags: 0)))
        harness.backendSends(tag: open.tag, .lopen(Rlopen(qid: SessionHarness.fileQid, iounit: 0)))
        _ = try harness.clientReceived()
        harness.session.quota = .init(limit: limit, shared: shared?.share(key))
        return harness
    }

    static func read(_ count: UInt32) -> TMessage { .read(Tread(fid: 2, offset: 0, count: count)) }
    /// A Tread's frame (23 bytes) and the most its Rread may bring (11 + count).
    static func reserved(_ count: Int) -> Int { NineP.twriteHeaderSize + NineP.rreadHeaderSize + count }

    @Test("a read reserves its frame and the reply its count may bring; past the quota it gets EDQUOT and a BUDGET_EXCEEDED event, nothing reaches the server, and the reply gives it back")
    func sessionLimit() throws {
        let harness = try Self.session(limit: 10_000)
        let first = try harness.forward(tag: 10, Self.read(4000))
        _ = try harness.forward(tag: 11, Self.read(4000))
        #expect(harness.session.bytesHeld == 2 * Self.reserved(4000))
        let refused = try harness.answeredLocally(tag: 12, Self.read(4000))
        #expect(refused == [SessionHarness.errorReply(errno: 122, message: "Disk quota exceeded", tag: 12, dialect: .linux)])
        #expect(harness.host.events.last?.kind == .budgetExceeded)
        #expect(harness.session.bytesHeld == 2 * Self.reserved(4000), "a refused request holds nothing")
        // A small request still fits; a Tclunk always goes, even when nothing else would.
        _ = try harness.forward(tag: 13, .getattr(Tgetattr(fid: 2, requestMask: 1)))
        harness.session.quota?.limit = 0
        _ = try harness.forward(tag: 14, .clunk(Tclunk(fid: 1)))
        harness.session.quota?.limit = 10_000
        harness.backendSends(tag: first.tag, .read(Rread(data: Array(repeating: 7, count: 4000))))
        #expect(try harness.clientReceived().map(\.tag) == [10])
        _ = try harness.forward(tag: 15, Self.read(4000))
    }

    @Test("one identity's sessions share its ledger: a second session is refused while the first holds the quota, and served once the first's reply is in and settled")
    func identityLedger() throws {
        let ledgers = KeyedLedgers(limit: 6000)
        let one = try Self.session(limit: 1 << 20, shared: ledgers)
        let two = try Self.session(limit: 1 << 20, shared: ledgers)
        let other = try Self.session(limit: 1 << 20, shared: ledgers, key: "addr:10.0.0.2")
        let read = try one.forward(tag: 10, Self.read(4000))
        #expect(ledgers.used("addr:10.0.0.1") == Self.reserved(4000))
        #expect(try two.answeredLocally(tag: 10, Self.read(4000)).first?.message.lerror?.ecode == 122)
        _ = try other.forward(tag: 10, Self.read(4000))   // another identity has its own
        one.backendSends(tag: read.tag, .read(Rread(data: Array(repeating: 1, count: 4000))))
        #expect(try one.clientReceived().map(\.tag) == [10])
        one.session.settleQuota(buffered: 0)
        #expect(ledgers.used("addr:10.0.0.1") == 0)
        _ = try two.forward(tag: 11, Self.read(4000))
        // Bytes in a session's buffers count too, and are given back when they drain.
        two.session.settleQuota(buffered: 1500)
        #expect(ledgers.used("addr:10.0.0.1") == Self.reserved(4000) + 1500)
        #expect(try one.answeredLocally(tag: 12, Self.read(1000)).first?.message.lerror?.ecode == 122)
        two.session.settleQuota(buffered: 0)
        two.session.quota?.shared = nil
        other.session.quota?.shared = nil
        #expect(ledgers.used("addr:10.0.0.1") == 0 && ledgers.total == 0, "a session that ends gives back all it posted")
    }

    @Test("refusals a client can repeat at will are all counted, but only the first 16 of a session (then every thousandth) are written to the audit log")
    func repeatedRefusalsLogged() throws {
        let harness = try Self.session(limit: 100)
        for tag in UInt16(10)..<1010 { _ = try harness.answeredLocally(tag: tag, Self.read(4000)) }
        let events = harness.host.events.filter { $0.kind == .budgetExceeded }
        #expect(events.count == 1000)
        #expect(events.filter(\.logged).count == 17, "16, then the thousandth")
        #expect(events.last?.logged == true && events.last?.detail.hasSuffix("(1000 in this session)") == true)
    }

    @Test("a held read reserves only its frame; its reply is reserved when its turn comes, and refused EDQUOT then if it does not fit (nothing reaches the server)")
    func heldRead() throws {
        let harness = try Self.session(limit: 5000, limits: .init(maxInFlight: 1))
        let first = try harness.forward(tag: 10, Self.read(4000))
        #expect(try harness.answeredLocally(tag: 11, Self.read(4000)).isEmpty, "held: only its frame counts, so it is taken")
        #expect(harness.session.bytesHeld == Self.reserved(4000) + NineP.twriteHeaderSize)
        harness.session.settleQuota(buffered: 2000)   // replies waiting for the client
        harness.backendSends(tag: first.tag, .read(Rread(data: Array(repeating: 7, count: 4000))))
        #expect(try harness.backendReceived().isEmpty, "the held read's reply would pass the quota")
        let replies = try harness.clientReceived()
        #expect(replies.map(\.tag) == [10, 11] && replies.last?.message.lerror?.ecode == 122)
        #expect(harness.session.bytesHeld == 2000 && harness.session.tags.outstanding == 0)
    }

    @Test("a token's quota caveat narrows the session's limit, never widens it")
    func tokenNarrows() throws {
        let harness = try Self.session(limit: 10_000)
        harness.session.narrowQuota(to: 5000)
        #expect(harness.session.quota?.limit == 5000)
        harness.session.narrowQuota(to: 1 << 30)
        #expect(harness.session.quota?.limit == 5000)
        _ = try harness.forward(tag: 10, Self.read(4000))
        #expect(try harness.answeredLocally(tag: 11, Self.read(1000)).first?.message.lerror?.ecode == 122)
    }

    @Test("any sequence of reads, refusals, replies and flushes leaves the session's and the identity's ledgers at zero", arguments: 0..<20)
    func backToZero(seed: Int) throws {
        var random = SplitMix64(seed: UInt64(seed) &+ 1)
        let ledgers = KeyedLedgers(limit: Int.random(in: 100...20_000, using: &random))
        let harness = try Self.session(limit: Int.random(in: 100...20_000, using: &random), shared: ledgers)
        var atServer: [(client: UInt16, backend: UInt16, count: Int)] = []
        for step in 0..<200 {
            let tag = UInt16(100 + step)
            switch Int.random(in: 0..<4, using: &random) {
            case 0, 1:
                let count = Int.random(in: 1...4000, using: &random)
                harness.clientSends(tag: tag, Self.read(UInt32(count)))
                if let sent = try harness.backendReceived().first { atServer.append((tag, sent.tag, count)) }
                _ = try harness.clientReceived()
            case 2 where !atServer.isEmpty:
                let answered = atServer.remove(at: Int.random(in: 0..<atServer.count, using: &random))
                harness.backendSends(tag: answered.backend, .read(Rread(data: Array(repeating: 0, count: Int.random(in: 0...answered.count, using: &random)))))
                _ = try harness.clientReceived()
            case 3 where !atServer.isEmpty:
                let flushed = atServer.remove(at: Int.random(in: 0..<atServer.count, using: &random))
                harness.clientSends(tag: tag, .flush(Tflush(oldtag: flushed.client)))
                let flush = try #require(try harness.backendReceived().first)
                harness.backendSends(tag: flush.tag, .flush(Rflush()))
                _ = try harness.clientReceived()
            default:
                harness.session.settleQuota(buffered: Int.random(in: 0...3000, using: &random))
            }
            #expect(harness.session.bytesHeld <= harness.session.quota!.limit + 3000)
        }
        for answered in atServer { harness.backendSends(tag: answered.backend, .read(Rread(data: []))) }
        _ = try harness.clientReceived()
        harness.session.settleQuota(buffered: 0)
        #expect(harness.session.tags.bytesReserved == 0 && harness.session.tags.replyBytesExpected == 0 && ledgers.total == 0)
    }
}

@Suite("Error replies by errno")
struct ErrorReplyErrnoTests {
    static func errno(_ message: RMessage, dialect: Dialect) -> UInt32? {
        Frame(tag: 1, message: message).encode(dialect: dialect).withUnsafeBytes { GatewaySession.errno(ofErrorReply: $0) }
    }

    @Test("an Rlerror's ecode, a 9P2000.u Rerror's errno, none for a 9P2000 Rerror")
    func errnos() {
        #expect(Self.errno(.lerror(Rlerror(ecode: 122)), dialect: .linux) == 122)
        #expect(Self.errno(.error(Rerror(ename: "No such file or directory", errno: 2)), dialect: .unix) == 2)
        #expect(Self.errno(.error(Rerror(ename: "file does not exist")), dialect: .plan9) == nil)
    }
}
