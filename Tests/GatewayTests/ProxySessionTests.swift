import Testing
@testable import Gateway
import NineP
import Pebble

/// The session state machine, driven with real frames and no sockets. The test is the client and
/// the backend both; it learns the backend's tags and fids by decoding what the session sent.
@Suite("ProxySession")
struct ProxySessionTests {
    // MARK: Version

    @Test("Tversion reaches the backend with NOTAG and msize capped; Rversion sets the session up")
    func versionNegotiation() throws {
        let harness = SessionHarness(limits: .init(maxMsize: 524_288))
        #expect(harness.session.acceptsClientFrames)
        harness.clientSends(tag: NineP.noTag, .version(Tversion(msize: 1_000_000, version: "9P2000.L")))
        #expect(try harness.backendReceived() == [
            Frame(tag: NineP.noTag, message: .version(Tversion(msize: 524_288, version: "9P2000.L"))),
        ])
        #expect(try harness.clientReceived().isEmpty)
        #expect(harness.session.phase == .negotiating(clientTag: NineP.noTag, offered: 524_288, wanted: .linux))
        #expect(!harness.session.acceptsClientFrames, "the client's next frames wait for the Rversion")

        // The server's smaller msize is its own: the client keeps what it was offered (msize bridging).
        harness.backendSends(tag: NineP.noTag, .version(Rversion(msize: 65_536, version: "9P2000.L")))
        #expect(try harness.clientReceived() == [
            Frame(tag: NineP.noTag, message: .version(Rversion(msize: 524_288, version: "9P2000.L"))),
        ])
        #expect(try harness.backendReceived().isEmpty)
        #expect(harness.session.msize == 524_288)
        #expect(harness.session.backendMsize == 65_536)
        #expect(harness.session.dialect == .linux)
        #expect(harness.session.phase == .active)
        #expect(harness.session.clientFrameLimit == 524_288)
        #expect(harness.session.backendFrameLimit == 65_536)
        #expect(harness.session.acceptsClientFrames)
    }

    @Test("the client's msize is kept when below the cap, and the agreed msize is the smaller of both")
    func versionKeepsSmallerMsize() throws {
        let harness = SessionHarness(limits: .init(maxMsize: 1 << 20))
        harness.clientSends(tag: 3, .version(Tversion(msize: 8192, version: "9P2000.u")))
        #expect(try harness.backendReceived() == [
            Frame(tag: NineP.noTag, message: .version(Tversion(msize: 8192, version: "9P2000.u"))),
        ])
        harness.backendSends(tag: NineP.noTag, .version(Rversion(msize: 65_536, version: "9P2000.u")))
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: .version(Rversion(msize: 8192, version: "9P2000.u")))])
        #expect(harness.session.msize == 8192)
        #expect(harness.session.dialect == .unix)
    }

    @Test("the server may step down to 9P2000 but not answer a dialect the client did not ask for",
          arguments: [("9P2000.L", "9P2000", "9P2000"), ("9P2000.u", "9P2000", "9P2000"),
                      ("9P2000", "9P2000.L", "unknown"), ("9P2000.u", "9P2000.L", "unknown"), ("9P2000.L", "9P2000.u", "unknown")])
    func versionOnlyStepsDown(asked: String, answered: String, agreed: String) throws {
        let harness = SessionHarness()
        harness.clientSends(tag: NineP.noTag, .version(Tversion(msize: 8192, version: WireString(asked))))
        _ = try harness.backendReceived()
        harness.backendSends(tag: NineP.noTag, .version(Rversion(msize: 8192, version: WireString(answered))))
        #expect(try harness.clientReceived() == [
            Frame(tag: NineP.noTag, message: .version(Rversion(msize: 8192, version: WireString(agreed)))),
        ])
        #expect(harness.session.dialect == Dialect(version: WireString(agreed)))
    }

    @Test("before Tversion a frame may claim only a few KiB, whatever max-msize is")
    func versionFrameLimit() {
        let harness = SessionHarness(limits: .init(maxMsize: 16 << 20))
        #expect(harness.session.clientFrameLimit == ProxySession.versionFrameLimit)
        #expect(harness.session.backendFrameLimit == ProxySession.versionFrameLimit)
        #expect(ProxySession.versionFrameLimit < 65_536)
    }

    @Test("a backend that answers Tversion with Rlerror leaves the client with Rversion \"unknown\"")
    func versionRefusedByBackend() throws {
        let harness = SessionHarness(dialect: .plan9)
        harness.clientSends(tag: NineP.noTag, .version(Tversion(msize: 8192, version: "9P2000")))
        #expect(try harness.backendReceived() == [
            Frame(tag: NineP.noTag, message: .version(Tversion(msize: 8192, version: "9P2000"))),
        ])
        // diod's answer to a 9P2000 Tversion.
        harness.backendSends(Frame(tag: NineP.noTag, message: RMessage.lerror(Rlerror(ecode: 22))).encode(dialect: .linux))
        #expect(try harness.clientReceived() == [
            Frame(tag: NineP.noTag, message: .version(Rversion(msize: 8192, version: "unknown"))),
        ])
        #expect(harness.session.dialect == nil)
        #expect(harness.session.msize == 0)
        #expect(harness.session.phase == .unversioned)
        #expect(harness.host.closeClientReasons.isEmpty)

        // Still unversioned: requests are refused, a new Tversion may try again.
        let replies = try harness.answeredLocally(tag: 1, .attach(Tattach(fid: 1, afid: NineP.noFid, uname: "", aname: "")))
        #expect(replies == [Frame(tag: 1, message: .error(Rerror(ename: WireString(ProxyError.notNegotiated.message))))])
    }

    @Test("an unknown version string is answered \"unknown\" without touching the backend",
          arguments: ["foo", "9P1999", "9P2000L", ""])
    func unknownVersion(version: String) throws {
        let harness = SessionHarness()
        harness.clientSends(tag: NineP.noTag, .version(Tversion(msize: 8192, version: WireString(version))))
        #expect(try harness.backendReceived().isEmpty)
        #expect(try harness.clientReceived() == [
            Frame(tag: NineP.noTag, message: .version(Rversion(msize: 8192, version: "unknown"))),
        ])
        #expect(harness.session.phase == .unversioned)
        #expect(harness.session.dialect == nil)
    }

    @Test("an msize too small to be useful is answered \"unknown\"")
    func tinyMsize() throws {
        let harness = SessionHarness()
        harness.clientSends(tag: NineP.noTag, .version(Tversion(msize: 100, version: "9P2000.L")))
        #expect(try harness.backendReceived().isEmpty)
        #expect(try harness.clientReceived() == [
            Frame(tag: NineP.noTag, message: .version(Rversion(msize: 100, version: "unknown"))),
        ])
    }

    @Test("an unknown 9P2000 suffix is negotiated as plain 9P2000")
    func versionSuffix() throws {
        let harness = SessionHarness()
        harness.clientSends(tag: NineP.noTag, .version(Tversion(msize: 8192, version: "9P2000.x")))
        #expect(try harness.backendReceived() == [
            Frame(tag: NineP.noTag, message: .version(Tversion(msize: 8192, version: "9P2000"))),
        ])
    }

    @Test("a request before Tversion is refused and never reaches the backend")
    func requestBeforeVersion() throws {
        let harness = SessionHarness(dialect: .plan9)
        let replies = try harness.answeredLocally(tag: 5, .walk(Twalk(fid: 1, newfid: 2, wnames: [])))
        #expect(replies == [Frame(tag: 5, message: .error(Rerror(ename: WireString(ProxyError.notNegotiated.message))))])
        #expect(harness.session.fids.count == 0)
        #expect(harness.session.tags.outstanding == 0)
    }

    // MARK: Fid and tag mapping

    @Test("Tattach and Twalk reach the backend with gateway fids and tags")
    func fidMapping() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let attach = try harness.forward(tag: 42, .attach(Tattach(fid: 7, afid: NineP.noFid, uname: "glenda", aname: "/srv", nUname: 1000)))
        let attachBody = try #require(attach.message.attach)
        #expect(attachBody.fid != 7, "the backend must see the gateway's fid, not the client's")
        #expect(attachBody.afid == NineP.noFid)
        #expect(attachBody.uname == "glenda")
        #expect(attachBody.aname == "/srv")
        #expect(attachBody.nUname == 1000)
        #expect(attach.tag != 42)
        #expect(attach.tag != NineP.noTag)
        #expect(harness.session.tags.backendTag(forClientTag: 42) == attach.tag)
        #expect(harness.session.fids.lookup(7)?.state == .pending)
        #expect(harness.session.fids.liveBackendFids.isEmpty, "nothing exists at the backend before Rattach")

        harness.backendSends(tag: attach.tag, .attach(Rattach(qid: SessionHarness.rootQid)))
        #expect(try harness.clientReceived() == [Frame(tag: 42, message: .attach(Rattach(qid: SessionHarness.rootQid)))])
        let backend7 = attachBody.fid
        #expect(harness.session.fids.lookup(7)?.backendFid == backend7)
        #expect(harness.session.fids.lookup(7)?.state == .ready)
        #expect(harness.session.fids.liveBackendFids == [backend7])
        #expect(harness.session.tags.outstanding == 0)

        let walk = try harness.forward(tag: 43, .walk(Twalk(fid: 7, newfid: 8, wnames: ["usr", "glenda"])))
        let walkBody = try #require(walk.message.walk)
        #expect(walkBody.fid == backend7)
        #expect(walkBody.newfid != backend7)
        #expect(walkBody.newfid != NineP.noFid)
        #expect(walkBody.wnames == ["usr", "glenda"])
        #expect(walk.tag != 43)
        #expect(harness.session.fids.lookup(8)?.backendFid == walkBody.newfid)

        let qids = [SessionHarness.rootQid, SessionHarness.fileQid]
        harness.backendSends(tag: walk.tag, .walk(Rwalk(wqids: qids)))
        #expect(try harness.clientReceived() == [Frame(tag: 43, message: .walk(Rwalk(wqids: qids)))])
        #expect(harness.session.fids.liveBackendFids == [backend7, walkBody.newfid])

        // Later requests on either fid carry the mapped fids.
        let getattr = try harness.forward(tag: 44, .getattr(Tgetattr(fid: 8, requestMask: 0x7FF)))
        #expect(getattr.message == .getattr(Tgetattr(fid: walkBody.newfid, requestMask: 0x7FF)))
        harness.backendSends(tag: getattr.tag, .getattr(SessionHarness.sampleGetattr))
        #expect(try harness.clientReceived() == [Frame(tag: 44, message: .getattr(SessionHarness.sampleGetattr))])
    }

    @Test("a 9P2000 client's error texts are ones Linux maps back to an errno; the detail goes to the log")
    func plan9ErrorTexts() throws {
        let harness = SessionHarness(dialect: .plan9)
        try harness.negotiate(.plan9)
        let replies = try harness.answeredLocally(tag: 5, .stat(Tstat(fid: 99)))
        #expect(replies == [Frame(tag: 5, message: .error(Rerror(ename: "fid unknown or out of range")))])
        #expect(harness.host.refusals.map(\.detail) == ["unknown fid"])
        // Texts from Linux's net/9p/error.c table; anything else becomes ESERVERFAULT there.
        let linuxKnows: Set<String> = [
            "fid unknown or out of range", "fid already in use", "Device or resource busy", "Protocol error",
            "Too many open files", "Input/output error", "Resource temporarily unavailable", "Operation not supported",
            "bad use of fid", "Invalid argument", "Operation not permitted", "Disk quota exceeded", "Permission denied",
            "Too many levels of symbolic links",
        ]
        let all: [ProxyError] = [.unknownFid, .fidInUse, .fidBusy, .tagInUse, .notNegotiated, .budgetExceeded(.fids, "fids"), .backendGone,
                                 .badBackendReply, .tooManyRequests, .unsupported(200), .malformed(.trailingBytes(1)),
                                 .fidKind, .xattrOffset, .notAuthFid, .authRemove, .permissionDenied, .badName, .throughSymlink,
                                 .tokenRequired, .tokenRejected(.expired)]
        for error in all { #expect(linuxKnows.contains(error.message), "\(error)") }
    }

    /// Pinned here, not read from `ProxyError`: the other tests compare replies with
    /// `errorReply(.x)`, which takes the errno from the code under test, so a changed errno would
    /// pass them all. Clients act on these numbers (EBADF, EBUSY, EAGAIN mean different things).
    @Test("each refusal carries its errno: EBADF for fid misuse, EBUSY, EPROTO, EDQUOT, EIO, EAGAIN, EPERM, EINVAL, EOPNOTSUPP, EACCES, ELOOP")
    func refusalErrnos() {
        let pinned: [(ProxyError, UInt32)] = [
            (.unknownFid, 9), (.fidInUse, 9), (.fidKind, 9), (.notAuthFid, 9), (.authRemove, 1), (.xattrOffset, 22),
            (.fidBusy, 16), (.tagInUse, 16), (.notNegotiated, 71), (.budgetExceeded(.fids, "fids"), 122), (.backendGone, 5),
            (.badBackendReply, 5), (.tooManyRequests, 11), (.unsupported(200), 95), (.malformed(.trailingBytes(1)), 71),
            (.permissionDenied, 13), (.badName, 22), (.throughSymlink, 40), (.tokenRequired, 13), (.tokenRejected(.expired), 13),
        ]
        for (error, errno) in pinned { #expect(error.errno == errno, "\(error)") }
    }

    @Test("a request naming an unknown fid gets EBADF and nothing reaches the backend")
    func unknownFid() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 7)
        let requests: [TMessage] = [
            .getattr(Tgetattr(fid: 99, requestMask: 0x7FF)),
            .walk(Twalk(fid: 99, newfid: 100, wnames: ["a"])),
            .clunk(Tclunk(fid: 99)),
            .rename(Trename(fid: 7, dfid: 99, name: "x")),
            .attach(Tattach(fid: 8, afid: 99, uname: "", aname: "", nUname: 0)),
        ]
        for (index, request) in requests.enumerated() {
            let tag = UInt16(10 + index)
            let replies = try harness.answeredLocally(tag: tag, request)
            #expect(replies == [Frame(tag: tag, message: .lerror(Rlerror(ecode: 9)))], "\(request.type)")
        }
        #expect(harness.session.fids.count == 1, "no refused request may leave a reservation behind")
        #expect(harness.session.tags.outstanding == 0)
    }

    @Test("creating a fid the client already holds is refused")
    func createHeldFid() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        try harness.walk(fid: 7, newfid: 8)

        var replies = try harness.answeredLocally(tag: 20, .attach(Tattach(fid: 7, afid: NineP.noFid, uname: "", aname: "", nUname: 0)))
        #expect(replies == [harness.errorReply(.fidInUse, tag: 20)])
        replies = try harness.answeredLocally(tag: 21, .walk(Twalk(fid: 7, newfid: 8, wnames: ["etc"])))
        #expect(replies == [harness.errorReply(.fidInUse, tag: 21)])
        replies = try harness.answeredLocally(tag: 22, .walk(Twalk(fid: 7, newfid: NineP.noFid, wnames: [])))
        #expect(replies == [harness.errorReply(.fidInUse, tag: 22)], "NOFID can never be created")
        replies = try harness.answeredLocally(tag: 23, .xattrwalk(Txattrwalk(fid: 7, newfid: 8, name: "user.x")))
        #expect(replies == [harness.errorReply(.fidInUse, tag: 23)])

        // A fid reserved by a request in flight is held too.
        let walk = try harness.forward(tag: 24, .walk(Twalk(fid: 7, newfid: 9, wnames: ["tmp"])))
        replies = try harness.answeredLocally(tag: 25, .walk(Twalk(fid: 7, newfid: 9, wnames: ["var"])))
        #expect(replies == [harness.errorReply(.fidInUse, tag: 25)])
        #expect(harness.session.fids.lookup(7)?.backendFid == backend7)
        harness.backendSends(tag: walk.tag, .walk(Rwalk(wqids: [SessionHarness.fileQid])))
        #expect(harness.session.fids.lookup(9)?.state == .ready)
    }

    @Test("Twalk with newfid == fid walks in place without a new backend fid")
    func walkInPlace() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let walk = try harness.forward(tag: 2, .walk(Twalk(fid: 7, newfid: 7, wnames: ["usr", "lib"])))
        #expect(walk.message == .walk(Twalk(fid: backend7, newfid: backend7, wnames: ["usr", "lib"])))
        #expect(harness.session.fids.count == 1)
        let qids = [SessionHarness.fileQid, SessionHarness.fileQid]
        harness.backendSends(tag: walk.tag, .walk(Rwalk(wqids: qids)))
        #expect(try harness.clientReceived() == [Frame(tag: 2, message: .walk(Rwalk(wqids: qids)))])
        #expect(harness.session.fids.count == 1)
        #expect(harness.session.fids.lookup(7)?.backendFid == backend7)
        #expect(harness.session.fids.lookup(7)?.state == .ready)
        #expect(harness.session.fids.liveBackendFids == [backend7])

        // A failed in-place walk leaves the fid as it was.
        let failed = try harness.forward(tag: 3, .walk(Twalk(fid: 7, newfid: 7, wnames: ["nope"])))
        harness.backendSends(tag: failed.tag, .lerror(Rlerror(ecode: 2)))
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: .lerror(Rlerror(ecode: 2)))])
        #expect(harness.session.fids.lookup(7)?.backendFid == backend7)
        #expect(harness.session.fids.lookup(7)?.state == .ready)
        #expect(harness.session.fids.liveBackendFids == [backend7])
    }

    @Test("Tauth creates the afid that a later Tattach names; both are rewritten")
    func authThenAttach() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let auth = try harness.forward(tag: 1, .auth(Tauth(afid: 50, uname: "glenda", aname: "", nUname: 1000)))
        let backendAfid = try #require(auth.message.auth?.afid)
        #expect(backendAfid != 50)
        let aqid = Qid(type: Qid.auth, version: 0, path: 9)
        harness.backendSends(tag: auth.tag, .auth(Rauth(aqid: aqid)))
        #expect(try harness.clientReceived() == [Frame(tag: 1, message: .auth(Rauth(aqid: aqid)))])

        let attach = try harness.forward(tag: 2, .attach(Tattach(fid: 51, afid: 50, uname: "glenda", aname: "", nUname: 1000)))
        let body = try #require(attach.message.attach)
        #expect(body.afid == backendAfid)
        #expect(body.fid != backendAfid)
        #expect(harness.session.fids.lookup(51)?.backendFid == body.fid)
    }

    @Test("an auth fid is only read, written, clunked and named as Tattach's afid (EBADF otherwise, in any fid position); Tattach's afid must be one; its Tremove goes out as a Tclunk and gets EPERM")
    func authFidRules() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 1)
        let auth = try harness.forward(tag: 1, .auth(Tauth(afid: 50, uname: "glenda", aname: "", nUname: 1000)))
        let backendAfid = try #require(auth.message.auth?.afid)
        harness.backendSends(tag: auth.tag, .auth(Rauth(aqid: Qid(type: Qid.auth, version: 0, path: 9))))
        _ = try harness.clientReceived()

        // diod keeps its auth state behind an afid: a Twalk from one crashed it.
        let refused: [TMessage] = [
            .walk(Twalk(fid: 50, newfid: 60, wnames: [])),
            .walk(Twalk(fid: 50, newfid: 50, wnames: ["a"])),
            .lopen(Tlopen(fid: 50, flags: 0)),
            .getattr(Tgetattr(fid: 50, requestMask: 0x7FF)),
            .xattrwalk(Txattrwalk(fid: 50, newfid: 61, name: "")),
            .rename(Trename(fid: 1, dfid: 50, name: "x")),
            .link(Tlink(dfid: 1, fid: 50, name: "x")),
            .renameat(Trenameat(olddirfid: 1, oldname: "a", newdirfid: 50, newname: "b")),
        ]
        for (index, request) in refused.enumerated() {
            let tag = UInt16(10 + index)
            let replies = try harness.answeredLocally(tag: tag, request)
            #expect(replies == [Frame(tag: tag, message: .lerror(Rlerror(ecode: 9)))], "\(request.type)")
        }
        // A plain fid is no afid.
        let notAuth = try harness.answeredLocally(tag: 30, .attach(Tattach(fid: 70, afid: 1, uname: "", aname: "", nUname: 0)))
        #expect(notAuth == [Frame(tag: 30, message: .lerror(Rlerror(ecode: 9)))])
        #expect(harness.host.refusals.last?.detail == ProxyError.notAuthFid.detail)

        let read = try harness.forward(tag: 31, .read(Tread(fid: 50, offset: 0, count: 64)))
        #expect(read.message == .read(Tread(fid: backendAfid, offset: 0, count: 64)))
        harness.backendSends(tag: read.tag, .read(Rread(data: [1, 2])))
        #expect(try harness.clientReceived() == [Frame(tag: 31, message: .read(Rread(data: [1, 2])))])
        let write = try harness.forward(tag: 32, .write(Twrite(fid: 50, offset: 0, data: [3])))
        harness.backendSends(tag: write.tag, .write(Rwrite(count: 1)))
        #expect(try harness.clientReceived() == [Frame(tag: 32, message: .write(Rwrite(count: 1)))])

        // remove(5) clunks the fid even when the remove fails: the server gets the clunk.
        let remove = try harness.forward(tag: 33, .remove(Tremove(fid: 50)))
        #expect(remove.message == .clunk(Tclunk(fid: backendAfid)))
        harness.backendSends(tag: remove.tag, .clunk(Rclunk()))
        #expect(try harness.clientReceived() == [Frame(tag: 33, message: .lerror(Rlerror(ecode: 1)))])
        #expect(harness.session.fids.lookup(50) == nil)
        #expect(!harness.session.fids.liveBackendFids.contains(backendAfid))
    }

    @Test("a flushed Tremove of an auth fid: if the server clunked it the client gets EPERM then Rflush and the fid is gone, else only Rflush and the fid stays",
          arguments: [true, false])
    func flushedAuthRemove(serverClunked: Bool) throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let auth = try harness.forward(tag: 1, .auth(Tauth(afid: 50, uname: "glenda", aname: "", nUname: 1000)))
        let backendAfid = try #require(auth.message.auth?.afid)
        harness.backendSends(tag: auth.tag, .auth(Rauth(aqid: Qid(type: Qid.auth, version: 0, path: 9))))
        _ = try harness.clientReceived()
        let remove = try harness.forward(tag: 2, .remove(Tremove(fid: 50)))
        #expect(remove.message == .clunk(Tclunk(fid: backendAfid)))
        let flush = try harness.forward(tag: 3, .flush(Tflush(oldtag: 2)))
        if serverClunked { harness.backendSends(tag: remove.tag, .clunk(Rclunk())) }
        harness.backendSends(tag: flush.tag, .flush(Rflush()))
        let expected: [Frame<RMessage>] = serverClunked
            ? [Frame(tag: 2, message: .lerror(Rlerror(ecode: 1))), Frame(tag: 3, message: .flush(Rflush()))]
            : [Frame(tag: 3, message: .flush(Rflush()))]
        #expect(try harness.clientReceived() == expected)
        #expect((harness.session.fids.lookup(50) == nil) == serverClunked)
        #expect(harness.session.fids.liveBackendFids.contains(backendAfid) == !serverClunked)
        if !serverClunked {
            // Still an auth fid: still only read, written and clunked.
            #expect(try harness.answeredLocally(tag: 4, .walk(Twalk(fid: 50, newfid: 51, wnames: []))) == [Frame(tag: 4, message: .lerror(Rlerror(ecode: 9)))])
        }
    }

    @Test("every fid of a request is rewritten, including ones after a string, and payloads pass untouched")
    func rewriteEveryFid() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let backend8 = try harness.walk(fid: 7, newfid: 8, names: ["a"])

        let renameat = try harness.forward(tag: 3, .renameat(Trenameat(olddirfid: 7, oldname: "from", newdirfid: 8, newname: "to")))
        #expect(renameat.message == .renameat(Trenameat(olddirfid: backend7, oldname: "from", newdirfid: backend8, newname: "to")))

        let payload: [UInt8] = Array(0..<200).map { UInt8($0 & 0xFF) }
        let write = try harness.forward(tag: 4, .write(Twrite(fid: 8, offset: 1 << 33, data: payload)))
        #expect(write.message == .write(Twrite(fid: backend8, offset: 1 << 33, data: payload)))

        let xattr = try harness.forward(tag: 5, .xattrwalk(Txattrwalk(fid: 8, newfid: 9, name: "user.x")))
        guard case let .xattrwalk(body) = xattr.message else {
            Issue.record("expected Txattrwalk, got \(xattr)")
            return
        }
        #expect(body.fid == backend8)
        #expect(body.newfid != backend7 && body.newfid != backend8)
        harness.backendSends(tag: xattr.tag, .xattrwalk(Rxattrwalk(size: 3)))
        #expect(harness.session.fids.lookup(9)?.backendFid == body.newfid)
        #expect(harness.session.fids.lookup(9)?.state == .ready)
    }

    // MARK: Check, then commit

    @Test("an Rlerror to Twalk never creates the newfid")
    func walkErrorCreatesNothing() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let walk = try harness.forward(tag: 2, .walk(Twalk(fid: 7, newfid: 8, wnames: ["missing"])))
        #expect(harness.session.fids.lookup(8)?.state == .pending)

        // While the walk is in flight, the reserved fid is not usable.
        var replies = try harness.answeredLocally(tag: 3, .getattr(Tgetattr(fid: 8, requestMask: 1)))
        #expect(replies == [harness.errorReply(.fidBusy, tag: 3)])

        harness.backendSends(tag: walk.tag, .lerror(Rlerror(ecode: 2)))
        #expect(try harness.clientReceived() == [Frame(tag: 2, message: .lerror(Rlerror(ecode: 2)))])
        #expect(harness.session.fids.lookup(8) == nil)
        #expect(harness.session.fids.liveBackendFids == [backend7])
        replies = try harness.answeredLocally(tag: 4, .getattr(Tgetattr(fid: 8, requestMask: 1)))
        #expect(replies == [Frame(tag: 4, message: .lerror(Rlerror(ecode: 9)))])
    }

    @Test("a partial Rwalk is passed on but never creates the newfid")
    func partialWalk() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let walk = try harness.forward(tag: 2, .walk(Twalk(fid: 7, newfid: 8, wnames: ["usr", "missing", "x"])))
        harness.backendSends(tag: walk.tag, .walk(Rwalk(wqids: [SessionHarness.fileQid])))
        #expect(try harness.clientReceived() == [Frame(tag: 2, message: .walk(Rwalk(wqids: [SessionHarness.fileQid])))])
        #expect(harness.session.fids.lookup(8) == nil)
        #expect(harness.session.fids.liveBackendFids == [backend7])
        let replies = try harness.answeredLocally(tag: 3, .getattr(Tgetattr(fid: 8, requestMask: 1)))
        #expect(replies == [Frame(tag: 3, message: .lerror(Rlerror(ecode: 9)))])

        // The backend fid the walk had reserved is free again: the next new fid gets it.
        let retry = try harness.forward(tag: 4, .walk(Twalk(fid: 7, newfid: 8, wnames: ["usr"])))
        #expect(retry.message.walk?.newfid == walk.message.walk?.newfid)
    }

    @Test("a full Rwalk creates the newfid")
    func fullWalk() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let backend8 = try harness.walk(fid: 7, newfid: 8, names: ["usr", "glenda", "lib"])
        #expect(harness.session.fids.lookup(8)?.backendFid == backend8)
        #expect(harness.session.fids.liveBackendFids == [backend7, backend8])
        let getattr = try harness.forward(tag: 3, .getattr(Tgetattr(fid: 8, requestMask: 1)))
        #expect(getattr.message == .getattr(Tgetattr(fid: backend8, requestMask: 1)))
    }

    @Test("an Rwalk of no qids to a walk of no names (a clone) creates the newfid")
    func cloneWalk() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let walk = try harness.forward(tag: 2, .walk(Twalk(fid: 7, newfid: 8, wnames: [])))
        let backend8 = try #require(walk.message.walk?.newfid)
        #expect(walk.message == .walk(Twalk(fid: backend7, newfid: backend8, wnames: [])))
        harness.backendSends(tag: walk.tag, .walk(Rwalk(wqids: [])))
        #expect(try harness.clientReceived() == [Frame(tag: 2, message: .walk(Rwalk(wqids: [])))])
        #expect(harness.session.fids.lookup(8)?.state == .ready)
        #expect(harness.session.fids.liveBackendFids == [backend7, backend8])
    }

    @Test("Tclunk releases the fid whether the reply is Rclunk or Rlerror", arguments: [false, true])
    func clunkReleases(failing: Bool) throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let backend8 = try harness.walk(fid: 7, newfid: 8)
        let clunk = try harness.forward(tag: 3, .clunk(Tclunk(fid: 8)))
        #expect(clunk.message == .clunk(Tclunk(fid: backend8)))
        #expect(harness.session.fids.lookup(8)?.state == .releasing)

        let reply: RMessage = failing ? .lerror(Rlerror(ecode: 5)) : .clunk(Rclunk())
        harness.backendSends(tag: clunk.tag, reply)
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: reply)])
        #expect(harness.session.fids.lookup(8) == nil)
        #expect(harness.session.fids.liveBackendFids == [backend7])
        let replies = try harness.answeredLocally(tag: 4, .getattr(Tgetattr(fid: 8, requestMask: 1)))
        #expect(replies == [Frame(tag: 4, message: .lerror(Rlerror(ecode: 9)))])

        // The client may use the number again, and the backend fid is reused.
        let walk = try harness.forward(tag: 5, .walk(Twalk(fid: 7, newfid: 8, wnames: [])))
        #expect(walk.message.walk?.newfid == backend8)
    }

    @Test("Tremove releases the fid even when the remove fails")
    func removeReleases() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let backend8 = try harness.walk(fid: 7, newfid: 8)
        let remove = try harness.forward(tag: 3, .remove(Tremove(fid: 8)))
        #expect(remove.message == .remove(Tremove(fid: backend8)))
        harness.backendSends(tag: remove.tag, .lerror(Rlerror(ecode: 13)))
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: .lerror(Rlerror(ecode: 13)))])
        #expect(harness.session.fids.lookup(8) == nil)
        #expect(harness.session.fids.liveBackendFids == [backend7])
    }

    @Test("a Tclunk racing a request on its fid goes after it, and its backend fid number is free only then",
          arguments: [false, true])
    func noReuseWhileNamed(flushStale: Bool) throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 7)
        let backend8 = try harness.walk(fid: 7, newfid: 8)
        // The client races a Tgetattr with the Tclunk of the same fid: the server would free the fid
        // under the running Tgetattr (diod crashed so), and could apply it to a new fid with the
        // number, so the Tclunk waits for it.
        let stale = try harness.forward(tag: 3, .getattr(Tgetattr(fid: 8, requestMask: 1)))
        harness.clientSends(tag: 4, .clunk(Tclunk(fid: 8)))
        #expect(try harness.backendReceived().isEmpty)
        if flushStale {
            let flush = try harness.forward(tag: 6, .flush(Tflush(oldtag: 3)))
            harness.backendSends(tag: flush.tag, .flush(Rflush()))
        } else {
            harness.backendSends(tag: stale.tag, .lerror(Rlerror(ecode: 9)))
        }
        let clunk = try harness.backendReceived()
        try #require(clunk.count == 1)
        #expect(clunk[0].message == .clunk(Tclunk(fid: backend8)))
        harness.backendSends(tag: clunk[0].tag, .clunk(Rclunk()))
        #expect(try harness.clientReceived() == [
            flushStale ? Frame(tag: 6, message: .flush(Rflush())) : Frame(tag: 3, message: .lerror(Rlerror(ecode: 9))),
            Frame(tag: 4, message: .clunk(Rclunk())),
        ])

        // Once nothing names it, the number is free again (not leaked).
        let next = try harness.forward(tag: 7, .walk(Twalk(fid: 7, newfid: 10, wnames: [])))
        #expect(next.message.walk?.newfid == backend8)
    }

    @Test("a request on a fid whose Tclunk is in flight is refused with EBUSY")
    func requestOnClunkingFid() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 7)
        try harness.walk(fid: 7, newfid: 8)
        let clunk = try harness.forward(tag: 3, .clunk(Tclunk(fid: 8)))
        for (tag, request) in [(UInt16(4), TMessage.getattr(Tgetattr(fid: 8, requestMask: 1))),
                               (5, .walk(Twalk(fid: 8, newfid: 9, wnames: []))),
                               (6, .clunk(Tclunk(fid: 8))),
                               (7, .link(Tlink(dfid: 7, fid: 8, name: "x")))] {
            let replies = try harness.answeredLocally(tag: tag, request)
            #expect(replies == [Frame(tag: tag, message: .lerror(Rlerror(ecode: 16)))], "\(request.type)")
        }
        #expect(harness.session.fids.lookup(9) == nil)
        harness.backendSends(tag: clunk.tag, .clunk(Rclunk()))
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: .clunk(Rclunk()))])
    }


    @Test("a Tclunk or Tremove waits until the requests at the server that name its fid are answered (diod freed the fid under a running Tread)",
          arguments: [false, true])
    func releaseWaitsForItsFid(remove: Bool) throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 7)
        let backend8 = try harness.walk(fid: 7, newfid: 8)
        let read = try harness.forward(tag: 3, .read(Tread(fid: 8, offset: 0, count: 100)))
        let getattr = try harness.forward(tag: 4, .getattr(Tgetattr(fid: 8, requestMask: 1)))
        let release: TMessage = remove ? .remove(Tremove(fid: 8)) : .clunk(Tclunk(fid: 8))
        harness.clientSends(tag: 5, release)
        #expect(try harness.backendReceived().isEmpty, "sent while a Tread and a Tgetattr on its fid run")
        #expect(try harness.clientReceived().isEmpty)
        #expect(try harness.answeredLocally(tag: 6, .getattr(Tgetattr(fid: 8, requestMask: 1)))
            == [Frame(tag: 6, message: .lerror(Rlerror(ecode: 16)))], "its fid is being released")
        harness.backendSends(tag: read.tag, .read(Rread(data: [1])))
        #expect(try harness.backendReceived().isEmpty, "the Tgetattr still runs")
        harness.backendSends(tag: getattr.tag, .getattr(SessionHarness.sampleGetattr))
        let sent = try harness.backendReceived()
        try #require(sent.count == 1)
        #expect(sent[0].message == (remove ? .remove(Tremove(fid: backend8)) : .clunk(Tclunk(fid: backend8))))
        harness.backendSends(tag: sent[0].tag, remove ? .remove(Rremove()) : .clunk(Rclunk()))
        #expect(try harness.clientReceived() == [
            Frame(tag: 3, message: .read(Rread(data: [1]))),
            Frame(tag: 4, message: .getattr(SessionHarness.sampleGetattr)),
            Frame(tag: 5, message: remove ? .remove(Rremove()) : .clunk(Rclunk())),
        ])
        #expect(harness.session.fids.lookup(8) == nil)
        #expect(harness.session.tags.outstanding == 0)
    }

    @Test("while a Tlopen of a fid is in flight, what would be refused for an open or xattr fid waits (EBUSY); once open, a walk to a new fid goes and a rename does not")
    func kindChangingFid() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 7)
        try harness.walk(fid: 7, newfid: 8)
        let lopen = try harness.forward(tag: 3, .lopen(Tlopen(fid: 8, flags: 0)))
        for (tag, request) in [(UInt16(4), TMessage.rename(Trename(fid: 8, dfid: 7, name: "x"))),
                               (5, .walk(Twalk(fid: 8, newfid: 9, wnames: [])))] {
            #expect(try harness.answeredLocally(tag: tag, request) == [Frame(tag: tag, message: .lerror(Rlerror(ecode: 16)))], "\(request.type)")
        }
        _ = try harness.forward(tag: 6, .getattr(Tgetattr(fid: 8, requestMask: 1)))  // not affected
        harness.backendSends(tag: lopen.tag, .lopen(Rlopen(qid: SessionHarness.fileQid, iounit: 0)))
        _ = try harness.clientReceived()
        #expect(harness.session.fids.lookup(8)?.kind == .open)
        _ = try harness.forward(tag: 7, .walk(Twalk(fid: 8, newfid: 9, wnames: [])))
        #expect(try harness.answeredLocally(tag: 8, .rename(Trename(fid: 8, dfid: 7, name: "x")))
            == [Frame(tag: 8, message: .lerror(Rlerror(ecode: 9)))])
    }

    @Test("a Tflush of a Tclunk still waiting for its fid is answered at once, and the fid stays usable")
    func flushOfWaitingRelease() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 7)
        try harness.walk(fid: 7, newfid: 8)
        let read = try harness.forward(tag: 3, .read(Tread(fid: 8, offset: 0, count: 100)))
        harness.clientSends(tag: 5, .clunk(Tclunk(fid: 8)))
        harness.clientSends(tag: 6, .flush(Tflush(oldtag: 5)))
        #expect(try harness.clientReceived() == [Frame(tag: 6, message: .flush(Rflush()))])
        harness.backendSends(tag: read.tag, .read(Rread(data: [])))
        #expect(try harness.backendReceived().isEmpty, "the flushed Tclunk never happens")
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: .read(Rread(data: [])))])
        #expect(harness.session.fids.lookup(8)?.state == .ready)
        _ = try harness.forward(tag: 7, .getattr(Tgetattr(fid: 8, requestMask: 1)))
    }
    @Test("a backend reply of the wrong type becomes EIO and changes no fid")
    func wrongReplyType() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let fidsBefore = harness.session.fids.clientFids
        let getattr = try harness.forward(tag: 3, .getattr(Tgetattr(fid: 7, requestMask: 1)))
        harness.backendSends(tag: getattr.tag, .read(Rread(data: [1, 2, 3])))
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: .lerror(Rlerror(ecode: 5)))])
        #expect(harness.session.fids.clientFids.keys.sorted() == fidsBefore.keys.sorted())
        #expect(harness.session.fids.lookup(7)?.backendFid == backend7)
        #expect(harness.session.fids.lookup(7)?.state == .ready)
        #expect(harness.session.fids.liveBackendFids == [backend7])
        #expect(harness.session.tags.outstanding == 0)

        // A wrongly typed answer to a walk does not give the client its newfid; whether the server
        // made it is unknown, so the backend fid stays live: clunked at the end, never reused.
        let walk = try harness.forward(tag: 4, .walk(Twalk(fid: 7, newfid: 8, wnames: [])))
        guard case let .walk(sentWalk) = walk.message else { Issue.record("not a walk"); return }
        harness.backendSends(tag: walk.tag, .clunk(Rclunk()))
        #expect(try harness.clientReceived() == [Frame(tag: 4, message: .lerror(Rlerror(ecode: 5)))])
        #expect(harness.session.fids.lookup(8) == nil)
        #expect(harness.session.fids.liveBackendFids == [backend7, sentWalk.newfid])
    }

    @Test("after a malformed answer to a Tclunk the client's fid is gone but its backend number stays live (clunked at cleanup, never reused); an Rwalk with more qids than names is malformed too")
    func unknownReleaseKeepsNumber() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let root = try harness.attach(fid: 1)
        let backend2 = try harness.walk(fid: 1, newfid: 2)
        let clunk = try harness.forward(tag: 5, .clunk(Tclunk(fid: 2)))
        harness.backendSends(tag: clunk.tag, .walk(Rwalk(wqids: [])))
        #expect(try harness.clientReceived() == [Frame(tag: 5, message: .lerror(Rlerror(ecode: 5)))])
        #expect(harness.session.fids.lookup(2) == nil, "clunk(5): the fid is gone for the client whatever the reply")
        #expect(harness.session.fids.liveBackendFids == [root, backend2])
        // The next fid does not land on the number the server may still hold.
        let walk = try harness.forward(tag: 6, .walk(Twalk(fid: 1, newfid: 3, wnames: ["a"])))
        let newfid = try #require(walk.message.walk?.newfid)
        #expect(newfid != backend2)
        // Two qids for one name answers no walk of ours: the newfid may exist at the server.
        harness.backendSends(tag: walk.tag, .walk(Rwalk(wqids: [SessionHarness.fileQid, SessionHarness.fileQid])))
        #expect(try harness.clientReceived() == [Frame(tag: 6, message: .lerror(Rlerror(ecode: 5)))])
        #expect(harness.session.fids.lookup(3) == nil)
        #expect(harness.session.fids.liveBackendFids == [root, backend2, newfid])
        // The cleanup clunks all three.
        harness.session.clientClosed()
        let clunks = try harness.backendReceived().compactMap(\.message.clunk?.fid)
        #expect(clunks.sorted() == [root, backend2, newfid].sorted())
    }

    @Test("in 9P2000 and 9P2000.u a read of an open directory must be whole stats of the session's dialect, else EIO; a file's read data is not looked at",
          arguments: [Dialect.plan9, .unix])
    func directoryReadStats(dialect: Dialect) throws {
        let harness = SessionHarness()
        try harness.negotiate(dialect)
        try harness.attach(fid: 1)
        _ = try harness.walk(fid: 1, newfid: 2, names: [])
        let open = try harness.forward(tag: 3, .open(Topen(fid: 2, mode: 0)))
        harness.backendSends(tag: open.tag, .open(Ropen(qid: SessionHarness.rootQid, iounit: 0)))
        _ = try harness.clientReceived()
        #expect(harness.session.fids.lookup(2)?.readsStats == true)

        let entry = Stat(qid: SessionHarness.fileQid, mode: 0o644, atime: 1, mtime: 2, length: 3, name: "a", uid: "u", gid: "g", muid: "m")
        var good = WireWriter()
        entry.encode(into: &good, dialect: dialect)
        entry.encode(into: &good, dialect: dialect)
        var otherDialect = WireWriter()
        entry.encode(into: &otherDialect, dialect: dialect == .plan9 ? .unix : .plan9)
        let cases: [(name: String, data: [UInt8], passes: Bool)] = [
            ("two whole stats", good.bytes, true),
            ("nothing (the end of the directory)", [], true),
            ("a stat cut short", Array(good.bytes.dropLast(3)), false),
            ("a size below the fixed fields", [4, 0, 0, 0, 0, 0], false),
            ("a stat of the other dialect", otherDialect.bytes, false),
        ]
        for (index, example) in cases.enumerated() {
            let tag = UInt16(10 + index)
            let read = try harness.forward(tag: tag, .read(Tread(fid: 2, offset: 0, count: 4000)))
            harness.backendSends(tag: read.tag, .read(Rread(data: example.data)))
            let expected: RMessage = example.passes ? .read(Rread(data: example.data))
                : dialect == .plan9 ? .error(Rerror(ename: "Input/output error")) : .error(Rerror(ename: "Input/output error", errno: 5))
            #expect(try harness.clientReceived() == [Frame(tag: tag, message: expected)], "\(example.name)")
            #expect(harness.session.repliesWhole(backendTag: read.tag) == false, "the request is done")
        }
        // A file's data is anything.
        _ = try harness.walk(fid: 1, newfid: 4, names: ["f"])
        let openFile = try harness.forward(tag: 20, .open(Topen(fid: 4, mode: 0)))
        harness.backendSends(tag: openFile.tag, .open(Ropen(qid: SessionHarness.fileQid, iounit: 0)))
        _ = try harness.clientReceived()
        let read = try harness.forward(tag: 21, .read(Tread(fid: 4, offset: 0, count: 4000)))
        #expect(!harness.session.repliesWhole(backendTag: read.tag))
        harness.backendSends(tag: read.tag, .read(Rread(data: [4, 0, 0, 0, 0, 0])))
        #expect(try harness.clientReceived() == [Frame(tag: 21, message: .read(Rread(data: [4, 0, 0, 0, 0, 0])))])
    }

    @Test("a Tread or Treaddir asking for more than an msize can carry asks the server for what fits (msize - 11)")
    func readCountCapped() throws {
        let harness = SessionHarness()
        try harness.negotiate(msize: 8192)
        let root = try harness.attach(fid: 1)
        let read = try harness.forward(tag: 2, .read(Tread(fid: 1, offset: 5, count: 100_000)))
        #expect(read.message == .read(Tread(fid: root, offset: 5, count: 8181)))
        let readdir = try harness.forward(tag: 3, .readdir(Treaddir(fid: 1, offset: 0, count: UInt32.max)))
        #expect(readdir.message == .readdir(Treaddir(fid: root, offset: 0, count: 8181)))
        let fits = try harness.forward(tag: 4, .read(Tread(fid: 1, offset: 0, count: 8181)))
        #expect(fits.message == .read(Tread(fid: root, offset: 0, count: 8181)))
    }

    @Test("an Rwalk with no qids for a walk of names is malformed (walk(5): a first name that fails gets an error): EIO, and the newfid may exist")
    func emptyRwalkForNames() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let root = try harness.attach(fid: 1)
        let walk = try harness.forward(tag: 2, .walk(Twalk(fid: 1, newfid: 2, wnames: ["a", "b"])))
        let newfid = try #require(walk.message.walk?.newfid)
        harness.backendSends(tag: walk.tag, .walk(Rwalk(wqids: [])))
        #expect(try harness.clientReceived() == [Frame(tag: 2, message: .lerror(Rlerror(ecode: 5)))])
        #expect(harness.session.fids.lookup(2) == nil)
        #expect(harness.session.fids.liveBackendFids == [root, newfid])
        // A clone (no names) answered with no qids is the success it should be.
        _ = try harness.walk(fid: 1, newfid: 3, names: [])
    }

    @Test("a malformed reply of the right type (an Rwalk with a qid count but no qids) becomes EIO and gives the client no fid")
    func malformedReplyBody() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let walk = try harness.forward(tag: 4, .walk(Twalk(fid: 7, newfid: 8, wnames: ["a"])))
        guard case let .walk(sentWalk) = walk.message else { Issue.record("not a walk"); return }
        // size 9, Rwalk, tag, nwqid 1 — and no qid.
        var bytes = Frame(tag: walk.tag, message: RMessage.walk(Rwalk(wqids: []))).encode(dialect: .linux)
        bytes[7] = 1
        harness.backendSends(bytes)
        #expect(try harness.clientReceived() == [Frame(tag: 4, message: .lerror(Rlerror(ecode: 5)))])
        #expect(harness.session.fids.lookup(8) == nil)
        #expect(harness.session.fids.liveBackendFids == [backend7, sentWalk.newfid])
        #expect(harness.host.refusals.map(\.detail) == [ProxyError.badBackendReply.detail])

        // A fid changed in place by a request with a malformed reply (a Tlopen answered by an Rlopen
        // cut short, a Twalk with newfid == fid answered by the wrong type) stands for something
        // unknown at the server: the client loses it, the backend keeps it until cleanup.
        let backend9 = try harness.walk(fid: 7, newfid: 9)
        let lopen = try harness.forward(tag: 7, .lopen(Tlopen(fid: 9, flags: 0)))
        var cut = Frame(tag: lopen.tag, message: RMessage.lopen(Rlopen(qid: SessionHarness.fileQid, iounit: 0))).encode(dialect: .linux)
        cut.removeLast(4)
        cut[0] = UInt8(cut.count)
        harness.backendSends(cut)
        #expect(try harness.clientReceived() == [Frame(tag: 7, message: .lerror(Rlerror(ecode: 5)))])
        #expect(harness.session.fids.lookup(9) == nil)
        #expect(harness.session.fids.liveBackendFids.contains(backend9))
        let inPlace = try harness.forward(tag: 8, .walk(Twalk(fid: 7, newfid: 7, wnames: ["a"])))
        harness.backendSends(tag: inPlace.tag, .clunk(Rclunk()))
        #expect(try harness.clientReceived() == [Frame(tag: 8, message: .lerror(Rlerror(ecode: 5)))])
        #expect(harness.session.fids.lookup(7) == nil)
        #expect(harness.session.fids.liveBackendFids.contains(backend7))
        try harness.attach(fid: 7, tag: 9)

        // The client may use fid 8 again; it gets a fresh backend fid.
        let again = try harness.forward(tag: 5, .walk(Twalk(fid: 7, newfid: 8, wnames: [])))
        guard case let .walk(sentAgain) = again.message else { Issue.record("not a walk"); return }
        #expect(sentAgain.newfid != sentWalk.newfid)
        // A getattr with a short body (no valid field) is refused the same way.
        let getattr = try harness.forward(tag: 6, .getattr(Tgetattr(fid: 7, requestMask: 1)))
        var short = Frame(tag: getattr.tag, message: RMessage.getattr(SessionHarness.sampleGetattr)).encode(dialect: .linux)
        short.removeLast(8)
        let size = UInt32(short.count)
        short.withUnsafeMutableBytes { $0.storeBytes(of: size.littleEndian, toByteOffset: 0, as: UInt32.self) }
        harness.backendSends(short)
        let replies = try harness.clientReceived()
        #expect(replies.contains(Frame(tag: 6, message: .lerror(Rlerror(ecode: 5)))), "\(replies)")

        // An Rreaddir whose count matches its data but whose last entry is cut short.
        let readdir = try harness.forward(tag: 10, .readdir(Treaddir(fid: 7, offset: 0, count: 4096)))
        let entries = Dirent.encodeAll([Dirent(qid: SessionHarness.fileQid, offset: 1, type: 8, name: "a")])
        harness.backendSends(tag: readdir.tag, .readdir(Rreaddir(data: entries + entries.prefix(20))))
        #expect(try harness.clientReceived() == [Frame(tag: 10, message: .lerror(Rlerror(ecode: 5)))])
        let whole = try harness.forward(tag: 11, .readdir(Treaddir(fid: 7, offset: 0, count: 4096)))
        harness.backendSends(tag: whole.tag, .readdir(Rreaddir(data: entries + entries)))
        #expect(try harness.clientReceived() == [Frame(tag: 11, message: .readdir(Rreaddir(data: entries + entries)))])
    }

    @Test("an Rread, Rreaddir or Rwrite whose count exceeds what was asked for, or an Rread whose count disagrees with its data, becomes EIO")
    func replyCountsChecked() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 1)
        // More data than asked for.
        let read = try harness.forward(tag: 3, .read(Tread(fid: 1, offset: 0, count: 2)))
        harness.backendSends(tag: read.tag, .read(Rread(data: [1, 2, 3])))
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: .lerror(Rlerror(ecode: 5)))])
        let readdir = try harness.forward(tag: 4, .readdir(Treaddir(fid: 1, offset: 0, count: 10)))
        harness.backendSends(tag: readdir.tag, .readdir(Rreaddir(data: [UInt8](repeating: 0, count: 11))))
        #expect(try harness.clientReceived() == [Frame(tag: 4, message: .lerror(Rlerror(ecode: 5)))])
        let write = try harness.forward(tag: 5, .write(Twrite(fid: 1, offset: 0, data: [1, 2])))
        harness.backendSends(tag: write.tag, .write(Rwrite(count: 3)))
        #expect(try harness.clientReceived() == [Frame(tag: 5, message: .lerror(Rlerror(ecode: 5)))])
        // A count that disagrees with the data that follows it.
        let short = try harness.forward(tag: 6, .read(Tread(fid: 1, offset: 0, count: 100)))
        var bytes = Frame(tag: short.tag, message: RMessage.read(Rread(data: [1, 2, 3]))).encode(dialect: .linux)
        bytes[7] = 2
        harness.backendSends(bytes)
        #expect(try harness.clientReceived() == [Frame(tag: 6, message: .lerror(Rlerror(ecode: 5)))])
        // What was asked for, or less, passes; so does an error.
        let fine = try harness.forward(tag: 7, .read(Tread(fid: 1, offset: 0, count: 3)))
        let fineWrite = try harness.forward(tag: 8, .write(Twrite(fid: 1, offset: 0, data: [1, 2])))
        let failed = try harness.forward(tag: 9, .read(Tread(fid: 1, offset: 0, count: 1)))
        harness.backendSends(tag: fine.tag, .read(Rread(data: [1, 2, 3])))
        harness.backendSends(tag: fineWrite.tag, .write(Rwrite(count: 1)))
        harness.backendSends(tag: failed.tag, .lerror(Rlerror(ecode: 13)))
        #expect(try harness.clientReceived() == [
            Frame(tag: 7, message: .read(Rread(data: [1, 2, 3]))),
            Frame(tag: 8, message: .write(Rwrite(count: 1))),
            Frame(tag: 9, message: .lerror(Rlerror(ecode: 13))),
        ])
        #expect(harness.session.tags.outstanding == 0)
    }

    @Test("a .L session turns a backend Rerror into Rlerror, keeping its errno")
    func rerrorBecomesRlerror() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 7)
        var getattr = try harness.forward(tag: 3, .getattr(Tgetattr(fid: 7, requestMask: 1)))
        harness.backendSends(tag: getattr.tag, .error(Rerror(ename: "No such file or directory", errno: 2)))
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: .lerror(Rlerror(ecode: 2)))])

        // An Rerror without an errno still reaches a .L client as Rlerror.
        getattr = try harness.forward(tag: 4, .getattr(Tgetattr(fid: 7, requestMask: 1)))
        harness.backendSends(tag: getattr.tag, .error(Rerror(ename: "broken")))
        let replies = try harness.clientReceived()
        try #require(replies.count == 1)
        #expect(replies[0].tag == 4)
        let lerror = try #require(replies[0].message.lerror, "\(replies[0])")
        #expect(lerror.ecode != 0, "ecode 0 would read as success")
    }

    @Test("a .u session passes the backend's Rerror through unchanged")
    func rerrorPassesInUnix() throws {
        let harness = SessionHarness()
        try harness.negotiate(.unix)
        try harness.attach(fid: 7)
        let stat = try harness.forward(tag: 3, .stat(Tstat(fid: 7)))
        harness.backendSends(tag: stat.tag, .error(Rerror(ename: "permission denied", errno: 13)))
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: .error(Rerror(ename: "permission denied", errno: 13)))])
    }

    @Test("a 9P2000/.u session turns a backend Rlerror into Rerror with the errno's text", arguments: [Dialect.unix, Dialect.plan9])
    func rlerrorBecomesRerror(dialect: Dialect) throws {
        let harness = SessionHarness()
        try harness.negotiate(dialect)
        try harness.attach(fid: 7)
        let stat = try harness.forward(tag: 3, .stat(Tstat(fid: 7)))
        harness.backendSends(tag: stat.tag, .lerror(Rlerror(ecode: 2)))
        let expected = Rerror(ename: "No such file or directory", errno: dialect == .unix ? 2 : nil)
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: .error(expected))])
    }

    @Test("a 9P2000 session strips the .u errno some servers append to Rerror")
    func plan9RerrorIsStrict() throws {
        let harness = SessionHarness()
        try harness.negotiate(.plan9)
        try harness.attach(fid: 7)
        let stat = try harness.forward(tag: 3, .stat(Tstat(fid: 7)))
        // The .u encoding of Rerror (ename + errno) arriving in a 9P2000 session.
        harness.backendSends(Frame(tag: stat.tag, message: RMessage.error(Rerror(ename: "file not found", errno: 2))).encode(dialect: .unix))
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: .error(Rerror(ename: "file not found")))])
    }

    // MARK: Tflush

    @Test("flushing a tag that is not outstanding is answered at once")
    func flushIdleTag() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 7)
        let replies = try harness.answeredLocally(tag: 9, .flush(Tflush(oldtag: 1)))
        #expect(replies == [Frame(tag: 9, message: .flush(Rflush()))])
        #expect(harness.session.tags.outstanding == 0)
    }

    @Test("a flushed walk answered only by Rflush never creates its newfid")
    func flushBeforeReply() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let walk = try harness.forward(tag: 2, .walk(Twalk(fid: 7, newfid: 8, wnames: ["slow"])))
        let flush = try harness.forward(tag: 3, .flush(Tflush(oldtag: 2)))
        #expect(flush.message == .flush(Tflush(oldtag: walk.tag)), "oldtag must be the walk's backend tag")
        #expect(flush.tag != walk.tag)
        #expect(flush.tag != 3)

        harness.backendSends(tag: flush.tag, .flush(Rflush()))
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: .flush(Rflush()))])
        #expect(harness.session.fids.lookup(8) == nil)
        #expect(harness.session.fids.liveBackendFids == [backend7])
        #expect(harness.session.tags.outstanding == 0)
        let replies = try harness.answeredLocally(tag: 4, .getattr(Tgetattr(fid: 8, requestMask: 1)))
        #expect(replies == [Frame(tag: 4, message: .lerror(Rlerror(ecode: 9)))])

        // The walk's tag is free again.
        _ = try harness.forward(tag: 2, .walk(Twalk(fid: 7, newfid: 8, wnames: [])))
        #expect(harness.host.closeClientReasons.isEmpty)
    }

    @Test("a walk answered before the Rflush reaches the client first, and its newfid exists")
    func flushAfterReply() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let walk = try harness.forward(tag: 2, .walk(Twalk(fid: 7, newfid: 8, wnames: ["usr"])))
        let backend8 = try #require(walk.message.walk?.newfid)
        let flush = try harness.forward(tag: 3, .flush(Tflush(oldtag: 2)))
        #expect(flush.message == .flush(Tflush(oldtag: walk.tag)))

        harness.backendSends(tag: walk.tag, .walk(Rwalk(wqids: [SessionHarness.fileQid])))
        harness.backendSends(tag: flush.tag, .flush(Rflush()))
        #expect(try harness.clientReceived() == [
            Frame(tag: 2, message: .walk(Rwalk(wqids: [SessionHarness.fileQid]))),
            Frame(tag: 3, message: .flush(Rflush())),
        ])
        #expect(harness.session.fids.lookup(8)?.backendFid == backend8)
        #expect(harness.session.fids.lookup(8)?.state == .ready)
        #expect(harness.session.fids.liveBackendFids == [backend7, backend8])
    }

    @Test("a flushed Tclunk answered only by Rflush leaves the fid usable")
    func flushedClunk() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let clunk = try harness.forward(tag: 2, .clunk(Tclunk(fid: 7)))
        #expect(harness.session.fids.lookup(7)?.state == .releasing)
        let flush = try harness.forward(tag: 3, .flush(Tflush(oldtag: 2)))
        #expect(flush.message == .flush(Tflush(oldtag: clunk.tag)))
        harness.backendSends(tag: flush.tag, .flush(Rflush()))
        #expect(try harness.clientReceived() == [Frame(tag: 3, message: .flush(Rflush()))])
        #expect(harness.session.fids.lookup(7)?.state == .ready)
        #expect(harness.session.fids.liveBackendFids == [backend7])
        let getattr = try harness.forward(tag: 4, .getattr(Tgetattr(fid: 7, requestMask: 1)))
        #expect(getattr.message == .getattr(Tgetattr(fid: backend7, requestMask: 1)))
    }

    // MARK: Protocol violations

    @Test("a tag reused while in flight closes the client; the second request never reaches the backend")
    func duplicateTag() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 7)
        _ = try harness.forward(tag: 5, .getattr(Tgetattr(fid: 7, requestMask: 1)))
        harness.clientSends(tag: 5, .getattr(Tgetattr(fid: 7, requestMask: 2)))
        #expect(harness.host.closeClientReasons.count == 1)
        #expect(try harness.backendReceived().isEmpty)
        #expect(harness.session.tags.outstanding == 1)
    }

    @Test("NOTAG on a request other than Tversion closes the client")
    func noTagRequest() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 7)
        harness.clientSends(tag: NineP.noTag, .getattr(Tgetattr(fid: 7, requestMask: 1)))
        #expect(harness.host.closeClientReasons.count == 1)
        #expect(try harness.backendReceived().isEmpty)
    }

    /// Frames a client must never get past the gateway, each with the errno its reply carries.
    static func malformedFrames(_ dialect: Dialect) -> [(name: String, bytes: [UInt8], errno: UInt32)] {
        var walk17 = WireWriter()
        walk17.u32(0); walk17.u8(MessageType.Twalk.rawValue); walk17.u16(30)
        walk17.u32(1); walk17.u32(2); walk17.u16(17)
        for _ in 0..<17 { walk17.string("a") }
        walk17.patchU32(at: 0, UInt32(walk17.bytes.count))

        let trailing = (Frame(tag: 31, message: TMessage.clunk(Tclunk(fid: 1))).encode(dialect: dialect) + [0, 0]).withSizePatched()

        // Twrite whose count claims more bytes than the frame holds.
        var shortWrite = WireWriter()
        shortWrite.u32(0); shortWrite.u8(MessageType.Twrite.rawValue); shortWrite.u16(32)
        shortWrite.u32(1); shortWrite.u64(0); shortWrite.u32(10); shortWrite.raw([1, 2, 3, 4])
        shortWrite.patchU32(at: 0, UInt32(shortWrite.bytes.count))

        // Tattach whose uname claims more bytes than are left.
        var badString = WireWriter()
        badString.u32(0); badString.u8(MessageType.Tattach.rawValue); badString.u16(33)
        badString.u32(5); badString.u32(NineP.noFid); badString.u16(200); badString.raw([0x61])
        badString.patchU32(at: 0, UInt32(badString.bytes.count))

        let outsideDialect: TMessage = dialect == .linux
            ? .open(Topen(fid: 1, mode: 0))
            : .getattr(Tgetattr(fid: 1, requestMask: 0x7FF))
        let reply = Frame(tag: 35, message: RMessage.clunk(Rclunk())).encode(dialect: dialect)
        let unknown: [UInt8] = [7, 0, 0, 0, 200, 36, 0]
        let tlerror: [UInt8] = [11, 0, 0, 0, MessageType.Tlerror.rawValue, 37, 0, 0, 0, 0, 0]

        return [
            ("Twalk with nwname 17", walk17.bytes, 71),
            ("Tclunk with trailing bytes", trailing, 71),
            ("Twrite with a short payload", shortWrite.bytes, 71),
            ("Tattach with a truncated string", badString.bytes, 71),
            ("\(outsideDialect.type) outside \(dialect)", Frame(tag: 34, message: outsideDialect).encode(dialect: dialect), 95),
            ("an R-message from the client", reply, 95),
            ("unknown type 200", unknown, 95),
            ("Tlerror, which nobody may send", tlerror, 95),
        ]
    }

    @Test("malformed client frames get an error in the session's dialect and never reach the backend",
          arguments: Dialect.allCases)
    func malformedFrames(dialect: Dialect) throws {
        let harness = SessionHarness()
        try harness.negotiate(dialect)
        let backend1 = try harness.attach(fid: 1)
        for (name, bytes, errno) in Self.malformedFrames(dialect) {
            let tag = UInt16(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 5, as: UInt16.self) })
            let errorsBefore = harness.session.stats.errorsByGateway
            harness.clientSends(bytes)
            #expect(try harness.backendReceived().isEmpty, "\(name) reached the backend")
            // Decoding in the session's dialect checks the reply's exact shape (no errno in 9P2000,
            // errno in .u, Rlerror in .L).
            let replies = try harness.clientReceived()
            try #require(replies.count == 1, "\(name): \(replies)")
            let reply = replies[0]
            #expect(reply.tag == tag, "\(name)")
            switch dialect {
            case .linux:
                #expect(reply.message == .lerror(Rlerror(ecode: errno)), "\(name)")
            case .unix:
                let error = try #require(reply.message.error, "\(name): \(reply)")
                #expect(error.errno == errno, "\(name)")
                #expect(!error.ename.isEmpty)
            case .plan9:
                let error = try #require(reply.message.error, "\(name): \(reply)")
                #expect(error.errno == nil, "\(name)")
                #expect(!error.ename.isEmpty)
            }
            #expect(harness.session.stats.errorsByGateway == errorsBefore + 1)
        }
        #expect(harness.host.closeClientReasons.isEmpty)
        #expect(harness.session.fids.count == 1)
        #expect(harness.session.fids.lookup(1)?.backendFid == backend1)
        #expect(harness.session.tags.outstanding == 0)
    }

    @Test("the gateway's own errors have the exact wire form of each dialect", arguments: Dialect.allCases)
    func errorWireForm(dialect: Dialect) {
        let bytes = ProxyError.unknownFid.reply(tag: 0x0102, dialect: dialect)
        let message = Array(ProxyError.unknownFid.message.utf8)
        let name = [UInt8(message.count & 0xFF), UInt8(message.count >> 8)] + message
        let expected: [UInt8] = switch dialect {
        case .linux: [11, 0, 0, 0, 7, 0x02, 0x01, 9, 0, 0, 0]
        case .unix: ([0, 0, 0, 0, 107, 0x02, 0x01] + name + [9, 0, 0, 0]).withSizePatched()
        case .plan9: ([0, 0, 0, 0, 107, 0x02, 0x01] + name).withSizePatched()
        }
        #expect(bytes == expected)
    }

    // MARK: Mid-session Tversion

    @Test("a mid-session Tversion flushes, clunks every backend fid, then renegotiates")
    func versionReset() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let backend8 = try harness.walk(fid: 7, newfid: 8)
        let getattr = try harness.forward(tag: 5, .getattr(Tgetattr(fid: 8, requestMask: 1)))

        harness.clientSends(tag: NineP.noTag, .version(Tversion(msize: 16_384, version: "9P2000.L")))
        #expect(!harness.session.acceptsClientFrames)
        let flushes = try harness.backendReceived()
        try #require(flushes.count == 1)
        #expect(flushes[0].message == .flush(Tflush(oldtag: getattr.tag)))
        #expect(try harness.clientReceived().isEmpty)

        // The outstanding request's reply arrives: the client no longer wants it.
        harness.backendSends(tag: getattr.tag, .getattr(SessionHarness.sampleGetattr))
        #expect(try harness.clientReceived().isEmpty)
        #expect(try harness.backendReceived().isEmpty, "nothing is clunked while the flush is outstanding")

        harness.backendSends(tag: flushes[0].tag, .flush(Rflush()))
        #expect(try harness.clientReceived().isEmpty)
        let clunks = try harness.backendReceived()
        #expect(clunks.compactMap(\.message.clunk?.fid).sorted() == [backend7, backend8].sorted())
        #expect(clunks.count == 2)
        #expect(Set(clunks.map(\.tag)).count == 2)

        harness.backendSends(tag: clunks[0].tag, .clunk(Rclunk()))
        #expect(try harness.backendReceived().isEmpty, "Tversion waits for every Rclunk")
        harness.backendSends(tag: clunks[1].tag, .lerror(Rlerror(ecode: 9)))
        #expect(try harness.backendReceived() == [
            Frame(tag: NineP.noTag, message: .version(Tversion(msize: 16_384, version: "9P2000.L"))),
        ])
        #expect(try harness.clientReceived().isEmpty)
        #expect(harness.session.fids.liveBackendFids.isEmpty)

        harness.backendSends(tag: NineP.noTag, .version(Rversion(msize: 16_384, version: "9P2000.L")))
        #expect(try harness.clientReceived() == [
            Frame(tag: NineP.noTag, message: .version(Rversion(msize: 16_384, version: "9P2000.L"))),
        ])
        #expect(harness.session.phase == .active)
        #expect(harness.session.msize == 16_384)
        #expect(harness.session.fids.count == 0)
        #expect(harness.session.tags.outstanding == 0)
        for (tag, fid) in [(UInt16(6), UInt32(7)), (7, 8)] {
            let replies = try harness.answeredLocally(tag: tag, .getattr(Tgetattr(fid: fid, requestMask: 1)))
            #expect(replies == [Frame(tag: tag, message: .lerror(Rlerror(ecode: 9)))])
        }
        // Tag 5 was never answered to the client, and after the reset it is free.
        _ = try harness.forward(tag: 5, .attach(Tattach(fid: 7, afid: NineP.noFid, uname: "", aname: "", nUname: 0)))
        #expect(harness.host.closeClientReasons.isEmpty)
    }

    @Test("a mid-session Tversion with a walk in flight clunks the walk's fid only if the walk happened",
          arguments: [false, true])
    func versionResetWithWalkInFlight(walkAnswered: Bool) throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let walk = try harness.forward(tag: 5, .walk(Twalk(fid: 7, newfid: 8, wnames: ["usr"])))
        let backend8 = try #require(walk.message.walk?.newfid)

        harness.clientSends(tag: NineP.noTag, .version(Tversion(msize: 8192, version: "9P2000.L")))
        let flushes = try harness.backendReceived()
        #expect(flushes.map(\.message) == [.flush(Tflush(oldtag: walk.tag))])
        if walkAnswered {
            harness.backendSends(tag: walk.tag, .walk(Rwalk(wqids: [SessionHarness.fileQid])))
        }
        harness.backendSends(tag: flushes[0].tag, .flush(Rflush()))
        #expect(try harness.clientReceived().isEmpty)
        let clunks = try harness.backendReceived()
        let expected = walkAnswered ? [backend7, backend8].sorted() : [backend7]
        #expect(clunks.compactMap(\.message.clunk?.fid).sorted() == expected)
        #expect(clunks.count == expected.count)
        for clunk in clunks { harness.backendSends(tag: clunk.tag, .clunk(Rclunk())) }
        #expect(try harness.backendReceived().map(\.message) == [.version(Tversion(msize: 8192, version: "9P2000.L"))])
    }

    @Test("a mid-session Tversion with nothing held renegotiates at once")
    func versionResetIdle() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        harness.clientSends(tag: NineP.noTag, .version(Tversion(msize: 8192, version: "9P2000.L")))
        #expect(try harness.backendReceived() == [
            Frame(tag: NineP.noTag, message: .version(Tversion(msize: 8192, version: "9P2000.L"))),
        ])
    }

    // MARK: Endings

    @Test("client disconnect with more fids than there are tags: the cleanup clunks go in rounds until every fid is clunked")
    func cleanupInRounds() throws {
        let harness = SessionHarness(limits: .init(maxFids: 70_000))
        try harness.negotiate()
        try harness.attach(fid: 1)
        let count = 65_600   // 65 535 tags: the clunks of one round cannot all be in flight at once
        for newfid in UInt32(2)..<UInt32(count + 1) {
            harness.clientSends(tag: 1, .walk(Twalk(fid: 1, newfid: newfid, wnames: [])))
            let walk = harness.host.toBackend.removeLast()
            harness.backendSends(tag: UInt16(walk[5]) | UInt16(walk[6]) << 8, .walk(Rwalk(wqids: [])))
            harness.host.toClient.removeAll(keepingCapacity: true)
        }
        harness.host.toBackend.removeAll()
        harness.host.toClient.removeAll()
        #expect(harness.session.fids.liveBackendFids.count == count)

        harness.session.clientClosed()
        var clunked = Set<UInt32>()
        var rounds = 0
        while harness.host.closeBackendCalls == 0 && rounds < 5 {
            rounds += 1
            let sent = try harness.backendReceived()
            try #require(!sent.isEmpty, "cleanup stopped with \(harness.session.fids.liveBackendFids.count) fids live")
            for frame in sent {
                let fid = try #require(frame.message.clunk?.fid)
                #expect(clunked.insert(fid).inserted, "fid \(fid) clunked twice")
                harness.backendSends(tag: frame.tag, .clunk(Rclunk()))
            }
        }
        #expect(rounds == 2)
        #expect(clunked.count == count)
        #expect(harness.session.fids.liveBackendFids.isEmpty)
        #expect(harness.host.closeBackendCalls == 1)
    }

    @Test("client disconnect: flush, then one Tclunk per live backend fid, then close the backend")
    func clientDisconnect() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let backend8 = try harness.walk(fid: 7, newfid: 8, tag: 2)
        let backend9 = try harness.walk(fid: 7, newfid: 9, tag: 3)
        // In flight when the client goes: a getattr, a walk creating 10, a clunk of 9.
        let getattr = try harness.forward(tag: 10, .getattr(Tgetattr(fid: 8, requestMask: 1)))
        let walk = try harness.forward(tag: 11, .walk(Twalk(fid: 7, newfid: 10, wnames: ["tmp"])))
        let backend10 = try #require(walk.message.walk?.newfid)
        let clunk = try harness.forward(tag: 12, .clunk(Tclunk(fid: 9)))
        #expect(clunk.message == .clunk(Tclunk(fid: backend9)))

        harness.session.clientClosed()
        #expect(harness.session.phase == .draining)
        let flushes = try harness.backendReceived()
        #expect(flushes.compactMap(\.message.flush?.oldtag).sorted() == [getattr.tag, walk.tag, clunk.tag].sorted())
        #expect(flushes.count == 3)
        #expect(harness.host.closeBackendCalls == 0)

        // The server answers every request before its flush (as diod does when it cannot flush).
        harness.backendSends(tag: getattr.tag, .getattr(SessionHarness.sampleGetattr))
        harness.backendSends(tag: walk.tag, .walk(Rwalk(wqids: [SessionHarness.fileQid])))
        harness.backendSends(tag: clunk.tag, .clunk(Rclunk()))
        #expect(try harness.backendReceived().isEmpty)
        for (index, flush) in flushes.enumerated() {
            harness.backendSends(tag: flush.tag, .flush(Rflush()))
            if index < flushes.count - 1 {
                #expect(try harness.backendReceived().isEmpty, "no clunk before every flush is answered")
            }
        }
        let clunks = try harness.backendReceived()
        // 9 was clunked by the client's own Tclunk; 10 was created by the walk that completed.
        #expect(clunks.compactMap(\.message.clunk?.fid).sorted() == [backend7, backend8, backend10].sorted())
        #expect(clunks.count == 3)
        #expect(harness.host.closeBackendCalls == 0)

        for (index, cleanup) in clunks.enumerated() {
            harness.backendSends(tag: cleanup.tag, .clunk(Rclunk()))
            #expect(harness.host.closeBackendCalls == (index == clunks.count - 1 ? 1 : 0))
        }
        #expect(try harness.backendReceived().isEmpty)
        #expect(try harness.clientReceived().isEmpty, "nothing is sent to a client that is gone")
        #expect(harness.session.fids.liveBackendFids.isEmpty)
        #expect(harness.session.tags.outstanding == 0)
        #expect(harness.session.isClosed)
        #expect(harness.host.closeClientReasons.isEmpty)

        // The backend closing now is expected, not an error to report to the (gone) client.
        harness.session.backendClosed()
        #expect(harness.host.closeClientReasons.isEmpty)
    }

    @Test("client disconnect when the server honours the flushes: flushed requests never happened")
    func clientDisconnectFlushesHonoured() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let backend7 = try harness.attach(fid: 7)
        let backend9 = try harness.walk(fid: 7, newfid: 9)
        let walk = try harness.forward(tag: 11, .walk(Twalk(fid: 7, newfid: 10, wnames: ["tmp"])))
        let clunk = try harness.forward(tag: 12, .clunk(Tclunk(fid: 9)))

        harness.session.clientClosed()
        let flushes = try harness.backendReceived()
        #expect(flushes.compactMap(\.message.flush?.oldtag).sorted() == [walk.tag, clunk.tag].sorted())
        for flush in flushes { harness.backendSends(tag: flush.tag, .flush(Rflush())) }
        let clunks = try harness.backendReceived()
        // The walk never created 10; the clunk of 9 never happened, so 9 is clunked now, once.
        #expect(clunks.compactMap(\.message.clunk?.fid).sorted() == [backend7, backend9].sorted())
        #expect(clunks.count == 2)
        for cleanup in clunks { harness.backendSends(tag: cleanup.tag, .lerror(Rlerror(ecode: 9))) }
        #expect(harness.host.closeBackendCalls == 1)
        #expect(harness.session.fids.liveBackendFids.isEmpty)
        #expect(harness.session.isClosed)
    }

    @Test("client disconnect with nothing held closes the backend at once; a second notice is ignored")
    func clientDisconnectIdle() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        harness.session.clientClosed()
        harness.session.clientClosed()
        #expect(try harness.backendReceived().isEmpty)
        #expect(harness.host.closeBackendCalls == 1)
        #expect(harness.session.isClosed)
    }

    @Test("client disconnect during version negotiation waits for the Rversion before closing")
    func clientDisconnectWhileNegotiating() throws {
        let harness = SessionHarness()
        harness.clientSends(tag: NineP.noTag, .version(Tversion(msize: 8192, version: "9P2000.L")))
        _ = try harness.backendReceived()
        harness.session.clientClosed()
        #expect(harness.host.closeBackendCalls == 0, "the server still owes an Rversion")
        harness.backendSends(tag: NineP.noTag, .version(Rversion(msize: 8192, version: "9P2000.L")))
        #expect(try harness.clientReceived().isEmpty)
        #expect(harness.host.closeBackendCalls == 1)
    }

    @Test("the backend closing closes the client")
    func backendClosed() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 7)
        harness.session.backendClosed()
        #expect(harness.host.closeClientReasons.count == 1)
        #expect(harness.session.isClosed)
        harness.session.backendClosed()
        #expect(harness.host.closeClientReasons.count == 1)
    }

    @Test("a reply to a tag the gateway never used closes the client")
    func unknownBackendTag() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        harness.backendSends(tag: 77, .clunk(Rclunk()))
        #expect(harness.host.closeClientReasons.count == 1)
        #expect(try harness.clientReceived().isEmpty)
    }

    // MARK: Limits

    @Test("the fid limit is a budget: past it a new fid gets EDQUOT and a BUDGET_EXCEEDED event, and the session goes on")
    func fidLimit() throws {
        let harness = SessionHarness(limits: .init(maxFids: 2))
        try harness.negotiate()
        try harness.attach(fid: 1)
        try harness.walk(fid: 1, newfid: 2)
        let replies = try harness.answeredLocally(tag: 3, .walk(Twalk(fid: 1, newfid: 3, wnames: [])))
        #expect(replies == [Frame(tag: 3, message: .lerror(Rlerror(ecode: 122)))])
        #expect(harness.host.events.map(\.kind) == [.budgetExceeded])
        #expect(harness.host.events.first?.detail == "budget exceeded: fids (2)")
        // Walking in place needs no new fid.
        _ = try harness.forward(tag: 4, .walk(Twalk(fid: 1, newfid: 1, wnames: [])))
    }

    @Test("past maxInFlight requests are held, checked and registered, and go out in order as replies make room")
    func inFlightLimit() throws {
        let harness = SessionHarness(limits: .init(maxInFlight: 2, maxHeldBytes: 40))
        try harness.negotiate()
        try harness.attach(fid: 1)
        let first = try harness.forward(tag: 10, .getattr(Tgetattr(fid: 1, requestMask: 1)))
        _ = try harness.forward(tag: 11, .getattr(Tgetattr(fid: 1, requestMask: 1)))
        #expect(!harness.session.sendsRequestsNow)
        // Held: nothing reaches the server, the client hears nothing, its fid checks are done now.
        #expect(try harness.answeredLocally(tag: 12, .getattr(Tgetattr(fid: 1, requestMask: 1))).isEmpty)
        #expect(try harness.answeredLocally(tag: 13, .walk(Twalk(fid: 1, newfid: 2, wnames: []))).isEmpty)
        #expect(harness.session.fids.lookup(2)?.state == .pending)
        let unknown = try harness.answeredLocally(tag: 14, .getattr(Tgetattr(fid: 9, requestMask: 1)))
        #expect(unknown.map(\.tag) == [14])
        // 2 held frames of 19 and 17 bytes: past maxHeldBytes (40) the client is no longer read.
        #expect(harness.session.acceptsClientFrames)
        #expect(try harness.answeredLocally(tag: 15, .getattr(Tgetattr(fid: 1, requestMask: 1))).isEmpty)
        #expect(!harness.session.acceptsClientFrames)

        // One reply makes room for one held request: the first held, under its own backend tag.
        harness.backendSends(tag: first.tag, .getattr(SessionHarness.sampleGetattr))
        #expect(try harness.clientReceived().map(\.tag) == [10])
        let released = try harness.backendReceived()
        #expect(released.count == 1)
        #expect(released.first?.message == .getattr(Tgetattr(fid: try #require(harness.session.fids.lookup(1)?.backendFid), requestMask: 1)))
        #expect(harness.session.acceptsClientFrames)
        harness.backendSends(tag: try #require(released.first?.tag), .getattr(SessionHarness.sampleGetattr))
        #expect(try harness.clientReceived().map(\.tag) == [12])
        let walk = try #require(try harness.backendReceived().first)
        #expect(walk.message.walk?.newfid == harness.session.fids.lookup(2)?.backendFid)
        harness.backendSends(tag: walk.tag, .walk(Rwalk(wqids: [])))
        #expect(harness.session.fids.lookup(2)?.state == .ready)
    }

    @Test("past maxReplyBytes of reads at the server (counts capped by msize) requests are held until a reply makes room",
          arguments: [false, true])
    func replyBytesLimit(readdir: Bool) throws {
        let harness = SessionHarness(limits: .init(maxInFlight: 100, maxReplyBytes: 20_000))
        try harness.negotiate(msize: 8192)
        try harness.attach(fid: 1)
        func read(tag: UInt16, count: UInt32) -> TMessage {
            readdir ? .readdir(Treaddir(fid: 1, offset: 0, count: count)) : .read(Tread(fid: 1, offset: 0, count: count))
        }
        // Counts beyond msize are charged as msize (8192): two reads leave 20 000 − 16 384 < 8192.
        let first = try harness.forward(tag: 10, read(tag: 10, count: 1 << 30))
        _ = try harness.forward(tag: 11, read(tag: 11, count: 100_000))
        #expect(harness.session.sendsRequestsNow)
        // Small requests cost nothing; the read that crosses the limit still goes.
        _ = try harness.forward(tag: 12, .getattr(Tgetattr(fid: 1, requestMask: 1)))
        _ = try harness.forward(tag: 13, read(tag: 13, count: 4000))
        #expect(!harness.session.sendsRequestsNow)
        #expect(try harness.answeredLocally(tag: 14, read(tag: 14, count: 10)).isEmpty)
        harness.backendSends(tag: first.tag, .lerror(Rlerror(ecode: 5)))
        #expect(try harness.clientReceived().map(\.tag) == [10])
        #expect(try harness.backendReceived().count == 1)
    }

    @Test("a Tflush goes through while requests are held: to the server for one it has, answered at once for a held one, which never happens")
    func flushPastTheLimit() throws {
        let harness = SessionHarness(limits: .init(maxInFlight: 1))
        try harness.negotiate()
        try harness.attach(fid: 1)
        let blocked = try harness.forward(tag: 10, .read(Tread(fid: 1, offset: 0, count: 100)))
        #expect(try harness.answeredLocally(tag: 11, .walk(Twalk(fid: 1, newfid: 2, wnames: ["a"]))).isEmpty)
        #expect(harness.session.fids.lookup(2)?.state == .pending)
        // The held walk is flushed: Rflush at once, its newfid never exists, the server never sees it.
        let flushHeld = try harness.answeredLocally(tag: 12, .flush(Tflush(oldtag: 11)))
        #expect(flushHeld == [Frame(tag: 12, message: .flush(Rflush()))])
        #expect(harness.session.fids.lookup(2) == nil)
        // The read at the server is flushed through the server, past the limit.
        let flush = try harness.forward(tag: 13, .flush(Tflush(oldtag: 10)))
        #expect(flush.message == .flush(Tflush(oldtag: blocked.tag)))
        harness.backendSends(tag: flush.tag, .flush(Rflush()))
        #expect(try harness.clientReceived() == [Frame(tag: 13, message: .flush(Rflush()))])
        // Room again: new requests go straight to the server; nothing held was left behind.
        #expect(harness.session.sendsRequestsNow)
        _ = try harness.forward(tag: 11, .getattr(Tgetattr(fid: 1, requestMask: 1)))
    }

    @Test("a second Tflush for a request at the server, and a Tflush of that Tflush, wait for the first and are answered right after it, in order")
    func flushesWait() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 1)
        let read = try harness.forward(tag: 10, .read(Tread(fid: 1, offset: 0, count: 100)))
        let flush = try harness.forward(tag: 11, .flush(Tflush(oldtag: 10)))
        #expect(flush.message == .flush(Tflush(oldtag: read.tag)))
        // The server gets one flush per request: these two wait, and nothing is answered yet.
        #expect(try harness.answeredLocally(tag: 12, .flush(Tflush(oldtag: 10))).isEmpty)
        #expect(try harness.answeredLocally(tag: 13, .flush(Tflush(oldtag: 11))).isEmpty)
        #expect(harness.session.tags.clientOutstanding == 4)
        // The server answers the read, then the flush: the client gets the Rread, then three Rflushes.
        harness.backendSends(tag: read.tag, .read(Rread(data: [7])))
        harness.backendSends(tag: flush.tag, .flush(Rflush()))
        #expect(try harness.clientReceived().map(\.tag) == [10, 11, 12, 13])
        #expect(harness.session.tags.outstanding == 0)
        // All done: a new flush of tag 10 is answered at once.
        #expect(try harness.answeredLocally(tag: 14, .flush(Tflush(oldtag: 10))).map(\.tag) == [14])
    }

    @Test("a second Tflush arriving after the request was answered, while the first Tflush is still at the server, is answered after the first's Rflush, not before it")
    func lateSecondFlushWaits() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 1)
        let read = try harness.forward(tag: 10, .read(Tread(fid: 1, offset: 0, count: 100)))
        let flush = try harness.forward(tag: 11, .flush(Tflush(oldtag: 10)))
        harness.backendSends(tag: read.tag, .read(Rread(data: [7])))
        #expect(try harness.clientReceived().map(\.tag) == [10])
        // flush(5): Rflushes for one request come in order, so tag 12 waits for tag 11's.
        #expect(try harness.answeredLocally(tag: 12, .flush(Tflush(oldtag: 10))).isEmpty)
        harness.backendSends(tag: flush.tag, .flush(Rflush()))
        #expect(try harness.clientReceived().map(\.tag) == [11, 12])
        #expect(harness.session.tags.outstanding == 0)
        // All done: a new flush of tag 10 is answered at once.
        #expect(try harness.answeredLocally(tag: 13, .flush(Tflush(oldtag: 10))).map(\.tag) == [13])
    }

    @Test("a Tflush of a waiting Tflush is answered at once, and the waiting one never is")
    func flushOfWaitingFlush() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 1)
        let read = try harness.forward(tag: 10, .read(Tread(fid: 1, offset: 0, count: 100)))
        let flush = try harness.forward(tag: 11, .flush(Tflush(oldtag: 10)))
        #expect(try harness.answeredLocally(tag: 12, .flush(Tflush(oldtag: 10))).isEmpty)
        #expect(try harness.answeredLocally(tag: 13, .flush(Tflush(oldtag: 12))).map(\.tag) == [13])
        // The server drops the read for the flush: only the first Rflush comes, and tag 12's never.
        harness.backendSends(tag: flush.tag, .flush(Rflush()))
        #expect(try harness.clientReceived().map(\.tag) == [11])
        #expect(harness.session.tags.outstanding == 0)
        _ = read
    }

    @Test("a Tversion with a Tflush waiting drops it and the reset completes; the request the client flushed gets no second Tflush",
          arguments: [false, true])
    func versionDropsWaitingFlush(requestAnswered: Bool) throws {
        let harness = SessionHarness()
        try harness.negotiate()
        let root = try harness.attach(fid: 1)
        let read = try harness.forward(tag: 10, .read(Tread(fid: 1, offset: 0, count: 100)))
        let flush = try harness.forward(tag: 11, .flush(Tflush(oldtag: 10)))
        #expect(try harness.answeredLocally(tag: 12, .flush(Tflush(oldtag: 10))).isEmpty)
        harness.clientSends(tag: NineP.noTag, .version(Tversion(msize: 8192, version: "9P2000.L")))
        // diod keeps only the newest flush of a request and never answers the one it replaced.
        #expect(try harness.backendReceived().isEmpty, "a second Tflush for a request the client flushed already")
        // The server answers the request (it had finished) or not (the flush took it), then the flush.
        if requestAnswered { harness.backendSends(tag: read.tag, .read(Rread(data: []))) }
        harness.backendSends(tag: flush.tag, .flush(Rflush()))
        #expect(try harness.backendReceived().map(\.message) == [.clunk(Tclunk(fid: root))])
        #expect(try harness.clientReceived().isEmpty, "abandoned requests and flushes get no reply")
    }

    @Test("a Tversion drops held requests without sending them; only fids the server has are clunked")
    func versionDropsHeld() throws {
        let harness = SessionHarness(limits: .init(maxInFlight: 1))
        try harness.negotiate()
        let root = try harness.attach(fid: 1)
        let getattr = try harness.forward(tag: 10, .getattr(Tgetattr(fid: 1, requestMask: 1)))
        #expect(try harness.answeredLocally(tag: 11, .walk(Twalk(fid: 1, newfid: 2, wnames: []))).isEmpty)
        harness.clientSends(tag: NineP.noTag, .version(Tversion(msize: 8192, version: "9P2000.L")))
        let flushes = try harness.backendReceived()
        #expect(flushes.map(\.message) == [.flush(Tflush(oldtag: getattr.tag))])
        harness.backendSends(tag: getattr.tag, .getattr(SessionHarness.sampleGetattr))
        harness.backendSends(tag: try #require(flushes.first?.tag), .flush(Rflush()))
        let clunks = try harness.backendReceived()
        #expect(clunks.map(\.message) == [.clunk(Tclunk(fid: root))])
        #expect(try harness.clientReceived().isEmpty)
    }

    @Test("a reply to the backend tag of a held request is as stray as any: the client is closed")
    func replyToHeldTag() throws {
        let harness = SessionHarness(limits: .init(maxInFlight: 1))
        try harness.negotiate()
        try harness.attach(fid: 1)
        let sent = try harness.forward(tag: 10, .getattr(Tgetattr(fid: 1, requestMask: 1)))
        #expect(try harness.answeredLocally(tag: 11, .getattr(Tgetattr(fid: 1, requestMask: 1))).isEmpty)
        // Tags are handed out in order, so the held request has the next one.
        harness.backendSends(tag: sent.tag &+ 1, .getattr(SessionHarness.sampleGetattr))
        #expect(harness.host.closeClientReasons.count == 1)
        #expect(try harness.clientReceived().isEmpty)
    }

    @Test("backend tags never collide with one another while the client reuses its tags")
    func backendTagsUnique() throws {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 1)
        var tags: Set<UInt16> = []
        for index in 0..<20 {
            let sent = try harness.forward(tag: UInt16(index), .getattr(Tgetattr(fid: 1, requestMask: 1)))
            #expect(sent.tag != NineP.noTag)
            #expect(tags.insert(sent.tag).inserted)
        }
    }
}
