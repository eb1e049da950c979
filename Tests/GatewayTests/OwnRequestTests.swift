import Testing
@testable import Gateway
import NineP

/// Requests of the gateway's own on a live session (`ProxySession.sendOwn`): the seam that
/// attach-then-walk, write commit and read-ahead stand on.
@Suite("Own requests")
struct OwnRequestTests {
    @Test("an own request's reply goes whole to its continuation, never to the client; a fid it makes lives until cleanup clunks it")
    func continuation() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let root = harness.session.newBackendFid()
        var replies: [RMessage?] = []
        #expect(harness.session.sendOwn(.attach(Tattach(fid: root, afid: NineP.noFid, uname: "u", aname: "/srv", nUname: 0)),
                                        creates: root) { replies.append($0) })
        let attach = try harness.backendReceived()
        try #require(attach.count == 1)
        #expect(attach[0].message == .attach(Tattach(fid: root, afid: NineP.noFid, uname: "u", aname: "/srv", nUname: 0)))
        #expect(harness.session.repliesWhole(backendTag: attach[0].tag))
        harness.backendSends(tag: attach[0].tag, .attach(Rattach(qid: SessionHarness.rootQid)))
        #expect(replies == [.attach(Rattach(qid: SessionHarness.rootQid))])
        #expect(try harness.clientReceived().isEmpty)
        #expect(harness.session.fids.liveBackendFids == [root])

        // A partial walk makes no fid.
        let walked = harness.session.newBackendFid()
        harness.session.sendOwn(.walk(Twalk(fid: root, newfid: walked, wnames: ["a", "b"])), creates: walked) { replies.append($0) }
        let walk = try harness.backendReceived()
        try #require(walk.count == 1)
        harness.backendSends(tag: walk[0].tag, .walk(Rwalk(wqids: [SessionHarness.fileQid])))
        #expect(replies.last == .walk(Rwalk(wqids: [SessionHarness.fileQid])))
        #expect(harness.session.fids.liveBackendFids == [root])

        // A malformed reply reaches the continuation as nil.
        harness.session.sendOwn(.getattr(Tgetattr(fid: root, requestMask: 0x7ff))) { replies.append($0) }
        let getattr = try harness.backendReceived()
        try #require(getattr.count == 1)
        harness.backendSends(tag: getattr[0].tag, .walk(Rwalk(wqids: [])))
        #expect(replies.count == 3 && replies.last == .some(nil))
        #expect(try harness.clientReceived().isEmpty)

        harness.session.clientClosed()
        #expect(try harness.backendReceived().map(\.message) == [.clunk(Tclunk(fid: root))])
    }

    @Test("own requests count against max-inflight: a client request waits behind one, and goes once it is answered")
    func inflight() throws {
        let harness = SessionHarness(limits: .init(maxInFlight: 1))
        try harness.negotiate()
        let backendFid = try harness.attach(fid: 1)
        var answered = 0
        harness.session.sendOwn(.getattr(Tgetattr(fid: backendFid, requestMask: 0x7ff))) { _ in answered += 1 }
        let own = try harness.backendReceived()
        try #require(own.count == 1)
        harness.clientSends(tag: 5, .getattr(Tgetattr(fid: 1, requestMask: 0x7ff)))
        #expect(try harness.backendReceived().isEmpty, "held behind the gateway's own request")
        // And an own request waits behind held client requests, in order.
        harness.session.sendOwn(.statfs(Tstatfs(fid: backendFid))) { _ in answered += 1 }
        #expect(try harness.backendReceived().isEmpty)

        harness.backendSends(tag: own[0].tag, .getattr(SessionHarness.sampleGetattr))
        #expect(answered == 1)
        let client = try harness.backendReceived()
        #expect(client.map(\.message) == [.getattr(Tgetattr(fid: backendFid, requestMask: 0x7ff))])
        harness.backendSends(tag: client[0].tag, .getattr(SessionHarness.sampleGetattr))
        #expect(try harness.clientReceived() == [Frame(tag: 5, message: .getattr(SessionHarness.sampleGetattr))])
        #expect(try harness.backendReceived().map(\.message) == [.statfs(Tstatfs(fid: backendFid))])
    }

    @Test("when the client leaves, an own request at the server is flushed, its continuation dropped, and its fid clunked after")
    func cleanup() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let root = try harness.attach(fid: 1)
        let walked = harness.session.newBackendFid()
        var called = false
        harness.session.sendOwn(.walk(Twalk(fid: root, newfid: walked, wnames: ["a"])), creates: walked) { _ in called = true }
        let walk = try harness.backendReceived()
        try #require(walk.count == 1)

        harness.session.clientClosed()
        let flush = try harness.backendReceived()
        #expect(flush.map(\.message) == [.flush(Tflush(oldtag: walk[0].tag))])
        // The walk was done before the flush reached the server: its fid is made, and clunked with the root.
        harness.backendSends(tag: walk[0].tag, .walk(Rwalk(wqids: [SessionHarness.fileQid])))
        #expect(!called)
        try #require(flush.count == 1)
        harness.backendSends(tag: flush[0].tag, .flush(Rflush()))
        let clunks = try harness.backendReceived().compactMap { frame -> UInt32? in
            if case let .clunk(clunk) = frame.message { clunk.fid } else { nil }
        }
        #expect(clunks.sorted() == [root, walked].sorted())
        #expect(!harness.session.sendOwn(.statfs(Tstatfs(fid: root))) { _ in }, "a draining session takes no new own requests")
    }
}
