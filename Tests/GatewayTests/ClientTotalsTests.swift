import Testing
@testable import Gateway
import NineP
import Pebble

/// Fids and unanswered requests per identity (`--max-fids-per-client`, `--max-requests-per-client`)
/// over two sessions of one identity that share its ledgers, as sessions on two loops do.
@Suite("Fids and requests per identity")
struct ClientTotalsTests {
    /// A negotiated session with fid 1 attached, counted in `fids` and `requests` under `key`.
    static func session(fids: KeyedLedgers? = nil, requests: KeyedLedgers? = nil, key: String = "addr:10.0.0.1") throws -> SessionHarness {
        let harness = SessionHarness()
        try harness.negotiate()
        _ = try harness.attach(fid: 1)
        harness.session.clientTotals = .init(fids: fids?.share(key), requests: requests?.share(key))
        harness.session.settleTotals()
        return harness
    }

    @Test("a walk that would pass the identity's fids gets EDQUOT and a BUDGET_EXCEEDED event in either session, nothing reaches the server; a clunk gives the fid back, and a walk in place needs none")
    func fidsPerIdentity() throws {
        let ledgers = KeyedLedgers(limit: 3)
        let one = try Self.session(fids: ledgers)
        let two = try Self.session(fids: ledgers)
        let other = try Self.session(fids: ledgers, key: "addr:10.0.0.2")
        #expect(ledgers.used("addr:10.0.0.1") == 2)
        _ = try one.walk(fid: 1, newfid: 2)
        #expect(ledgers.used("addr:10.0.0.1") == 3)
        let refused = try two.answeredLocally(tag: 5, .walk(Twalk(fid: 1, newfid: 2, wnames: ["usr"])))
        #expect(refused.first?.message.lerror?.ecode == 122)
        #expect(two.host.events.last?.kind == .budgetExceeded && two.host.events.last?.budget == .fids)
        two.session.settleTotals()
        #expect(ledgers.used("addr:10.0.0.1") == 3, "a refused walk holds nothing")
        _ = try other.walk(fid: 1, newfid: 2)   // another identity has its own
        // A walk in place (newfid == fid) makes no fid, so it goes at the limit.
        _ = try two.forward(tag: 6, .walk(Twalk(fid: 1, newfid: 1, wnames: ["usr"])))
        // A clunk always goes; once answered and settled, the fid is free for the other session.
        let clunk = try one.forward(tag: 7, .clunk(Tclunk(fid: 2)))
        one.backendSends(tag: clunk.tag, .clunk(Rclunk()))
        _ = try one.clientReceived()
        one.session.settleTotals()
        #expect(ledgers.used("addr:10.0.0.1") == 2)
        _ = try two.walk(fid: 1, newfid: 3, tag: 8)
        for harness in [one, two, other] { harness.session.clientTotals = .init() }
        #expect(ledgers.total == 0, "sessions that end give back every fid")
    }

    @Test("a request past the identity's unanswered requests gets EDQUOT in either session; a clunk always goes, and once replies are in and settled the next request is served")
    func requestsPerIdentity() throws {
        let ledgers = KeyedLedgers(limit: 2)
        let one = try Self.session(requests: ledgers)
        let two = try Self.session(requests: ledgers)
        #expect(ledgers.used("addr:10.0.0.1") == 0)
        let first = try one.forward(tag: 10, .getattr(Tgetattr(fid: 1, requestMask: 1)))
        _ = try one.forward(tag: 11, .getattr(Tgetattr(fid: 1, requestMask: 1)))
        let refused = try two.answeredLocally(tag: 10, .getattr(Tgetattr(fid: 1, requestMask: 1)))
        #expect(refused.first?.message.lerror?.ecode == 122)
        #expect(two.host.events.last?.budget == .requests)
        two.session.settleTotals()
        #expect(ledgers.used("addr:10.0.0.1") == 2)
        let clunk = try two.forward(tag: 11, .clunk(Tclunk(fid: 1)))
        two.backendSends(tag: clunk.tag, .clunk(Rclunk()))
        _ = try two.clientReceived()
        one.backendSends(tag: first.tag, .getattr(SessionHarness.sampleGetattr))
        #expect(try one.clientReceived().map(\.tag) == [10])
        one.session.settleTotals()
        two.session.settleTotals()
        #expect(ledgers.used("addr:10.0.0.1") == 1)
        _ = try one.forward(tag: 12, .getattr(Tgetattr(fid: 1, requestMask: 1)))
        one.session.clientTotals = .init()
        two.session.clientTotals = .init()
        #expect(ledgers.total == 0)
    }
}
