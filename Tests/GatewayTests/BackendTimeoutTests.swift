import Testing
@testable import Gateway
import NineP
import Pebble

/// `--backend-timeout` on a session, with a clock the test moves.
@Suite("Backend timeout")
struct BackendTimeoutTests {
    final class Clock: @unchecked Sendable { var now = 0.0 }

    static func harness(_ clock: Clock) throws -> SessionHarness {
        var access = ProxySession.Access()
        access.backendTimeout = 5
        access.monotonicNow = { clock.now }
        let harness = SessionHarness(access: access)
        try harness.negotiate()
        try harness.attach(fid: 1)
        return harness
    }

    @Test("a request the server sits on gets EIO at the timeout and a Tflush goes to the server; its late reply is dropped")
    func lateReply() throws {
        let clock = Clock()
        let harness = try Self.harness(clock)
        let sent = try harness.forward(tag: 7, .getattr(Tgetattr(fid: 1, requestMask: 1)))
        clock.now = 4.9
        #expect(harness.session.expireRequests())
        #expect(try harness.clientReceived().isEmpty && harness.backendReceived().isEmpty)
        clock.now = 5
        #expect(harness.session.expireRequests())
        #expect(try harness.clientReceived() == [harness.errorReply(.backendTimeout, tag: 7)])
        let flush = try harness.backendReceived()
        #expect(flush.map(\.message) == [.flush(Tflush(oldtag: sent.tag))])
        // The tag is the client's again at once.
        _ = try harness.forward(tag: 7, .getattr(Tgetattr(fid: 1, requestMask: 2)))
        harness.backendSends(tag: sent.tag, .getattr(SessionHarness.sampleGetattr))
        harness.backendSends(tag: flush[0].tag, .flush(Rflush()))
        #expect(try harness.clientReceived().isEmpty, "the late reply reaches nobody")
    }

    @Test("a timed-out walk's new fid is not the client's, even if the server makes it; the number may be used again")
    func lateWalk() throws {
        let clock = Clock()
        let harness = try Self.harness(clock)
        let walk = try harness.forward(tag: 2, .walk(Twalk(fid: 1, newfid: 2, wnames: ["slow"])))
        clock.now = 6
        #expect(harness.session.expireRequests())
        #expect(try harness.clientReceived() == [harness.errorReply(.backendTimeout, tag: 2)])
        #expect(harness.session.fids.lookup(2) == nil)
        let flush = try harness.backendReceived()
        harness.backendSends(tag: walk.tag, .walk(Rwalk(wqids: [SessionHarness.fileQid])))
        harness.backendSends(tag: flush[0].tag, .flush(Rflush()))
        #expect(harness.session.fids.lookup(2) == nil, "made at the server, not given to the client")
        #expect(harness.session.fids.liveBackendFids.contains(walk.message.walk!.newfid), "clunked at cleanup")
        try harness.walk(fid: 1, newfid: 2, tag: 3)
    }

    @Test("a flush the server does not answer within the timeout either ends the session")
    func unansweredFlush() throws {
        let clock = Clock()
        let harness = try Self.harness(clock)
        _ = try harness.forward(tag: 2, .getattr(Tgetattr(fid: 1, requestMask: 1)))
        clock.now = 5
        #expect(harness.session.expireRequests())
        _ = try harness.backendReceived()
        clock.now = 9.9
        #expect(harness.session.expireRequests())
        clock.now = 10
        #expect(!harness.session.expireRequests())
    }

    @Test("a token's attach whose own requests the server sits on: the client's Tattach gets an error at the timeout, not silence")
    func lateOwnRequest() throws {
        let clock = Clock()
        var keys = TokenKeys()
        _ = keys.generate(keyID: "k")
        var access = ProxySession.Access(tokens: .init(verifier: TokenVerifier(keys: keys), required: true), backendAname: "/export")
        access.backendTimeout = 5
        access.monotonicNow = { clock.now }
        access.now = { .init(timeIntervalSince1970: 1_800_000_000) }
        let harness = SessionHarness(access: access)
        try harness.negotiate()
        let token = try CapabilityToken.mint(key: keys.keys["k"]!, keyID: "k", caveats: []).text
        harness.clientSends(tag: 1, .attach(Tattach(fid: 1, afid: NineP.noFid, uname: "u", aname: WireString(token), nUname: 0)))
        #expect(try harness.backendReceived().count == 1)
        clock.now = 5
        #expect(harness.session.expireRequests())
        #expect(try harness.clientReceived() == [harness.errorReply(.badBackendReply, tag: 1)])
        #expect(harness.session.fids.lookup(1) == nil)
    }
}
