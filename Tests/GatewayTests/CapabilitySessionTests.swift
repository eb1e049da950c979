import Foundation
import Testing
@testable import Gateway
import NineP
import Pebble

/// Capability tokens on a session, without sockets: the attach the gateway makes for a token,
/// walks confined below its root, rights on each request, and the audit events of refusals.
@Suite("Capabilities on a session")
struct CapabilitySessionTests {
    static let keys: TokenKeys = {
        var keys = TokenKeys()
        _ = keys.generate(keyID: "k1")
        return keys
    }()
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let dataQid = Qid(type: Qid.directory, version: 0, path: 7)
    static let linkQid = Qid(type: Qid.symlink, version: 0, path: 8)

    static func token(_ caveats: [String]) throws -> String {
        try CapabilityToken.mint(key: keys.keys["k1"]!, keyID: "k1", caveats: caveats.map { try Caveat.parse($0) }).text
    }

    static func harness(required: Bool = false) -> SessionHarness {
        let access = ProxySession.Access(tokens: .init(verifier: TokenVerifier(keys: keys), required: required),
                                         backendAname: "/export", backendUname: "nobody", now: { now })
        return SessionHarness(access: access)
    }

    /// Attaches client fid 1 with `token` whose path is /data; returns the backend fid behind it.
    static func attachToData(_ harness: SessionHarness, token: String, tag: UInt16 = 1) throws -> UInt32 {
        harness.clientSends(tag: tag, .attach(Tattach(fid: 1, afid: NineP.noFid, uname: "glenda", aname: WireString(token), nUname: 1000)))
        let attach = try harness.backendReceived()
        try #require(attach.count == 1)
        let sent = try #require(attach[0].message.attach)
        #expect(sent.aname == "/export" && sent.uname == "nobody" && sent.nUname == NineP.noUid && sent.afid == NineP.noFid)
        #expect(try harness.clientReceived().isEmpty)
        harness.backendSends(tag: attach[0].tag, .attach(Rattach(qid: SessionHarness.rootQid)))
        let walk = try harness.backendReceived()
        try #require(walk.count == 1)
        let twalk = try #require(walk[0].message.walk)
        #expect(twalk.fid == sent.fid && twalk.wnames == ["data"])
        harness.backendSends(tag: walk[0].tag, .walk(Rwalk(wqids: [dataQid])))
        #expect(try harness.backendReceived().map(\.message) == [.clunk(Tclunk(fid: sent.fid))], "the export's fid is clunked")
        #expect(try harness.clientReceived() == [Frame(tag: tag, message: .attach(Rattach(qid: dataQid)))])
        let record = try #require(harness.session.fids.lookup(1))
        #expect(record.state == .ready && record.backendFid == twalk.newfid && record.scope?.path == .root)
        return twalk.newfid
    }

    @Test("a token in the aname: the gateway attaches as configured, walks to the token's path, and the client's fid is there")
    func attachWithToken() throws {
        let harness = Self.harness()
        try harness.negotiate()
        let backendFid = try Self.attachToData(harness, token: Self.token(["path = /data", "rights = lr"]))
        #expect(harness.session.fids.lookup(1)?.scope?.rights == [.lookup, .read])
        // Walks and reads go through as usual.
        let walked = try harness.forward(tag: 2, .walk(Twalk(fid: 1, newfid: 2, wnames: ["notes"])))
        #expect(walked.message.walk == Twalk(fid: backendFid, newfid: walked.message.walk!.newfid, wnames: ["notes"]))
        harness.backendSends(tag: walked.tag, .walk(Rwalk(wqids: [SessionHarness.fileQid])))
        #expect(try harness.clientReceived() == [Frame(tag: 2, message: .walk(Rwalk(wqids: [SessionHarness.fileQid])))])
        #expect(harness.session.fids.lookup(2)?.scope?.path.description == "/notes")
        #expect(harness.host.events.isEmpty)
    }

    @Test("`..` at the capability root stays there: answered with the root's qid, never sent to the server")
    func dotDotAtRoot() throws {
        let harness = Self.harness()
        try harness.negotiate()
        let root = try Self.attachToData(harness, token: Self.token(["path = /data"]))
        // "..", "..": the server gets a clone; the client gets the root's qid twice.
        let clone = try harness.forward(tag: 2, .walk(Twalk(fid: 1, newfid: 2, wnames: ["..", ".."])))
        #expect(clone.message.walk?.fid == root && clone.message.walk?.wnames == [])
        harness.backendSends(tag: clone.tag, .walk(Rwalk(wqids: [])))
        #expect(try harness.clientReceived() == [Frame(tag: 2, message: .walk(Rwalk(wqids: [Self.dataQid, Self.dataQid])))])
        #expect(harness.session.fids.lookup(2)?.scope?.path == .root)
        // "a", "..", "..", "b": the second ".." is at the root again.
        let mixed = try harness.forward(tag: 3, .walk(Twalk(fid: 2, newfid: 3, wnames: ["a", "..", "..", "b"])))
        #expect(mixed.message.walk?.wnames == ["a", "..", "b"])
        let a = Qid(type: Qid.directory, version: 0, path: 20)
        harness.backendSends(tag: mixed.tag, .walk(Rwalk(wqids: [a, Self.dataQid, SessionHarness.fileQid])))
        #expect(try harness.clientReceived() == [
            Frame(tag: 3, message: .walk(Rwalk(wqids: [a, Self.dataQid, Self.dataQid, SessionHarness.fileQid]))),
        ])
        #expect(harness.session.fids.lookup(3)?.scope?.path.description == "/b")
        // "..", "missing": the server's error for "missing" leaves a partial walk with the root's qid.
        let missing = try harness.forward(tag: 4, .walk(Twalk(fid: 1, newfid: 4, wnames: ["..", "missing"])))
        harness.backendSends(tag: missing.tag, .lerror(Rlerror(ecode: 2)))
        #expect(try harness.clientReceived() == [Frame(tag: 4, message: .walk(Rwalk(wqids: [Self.dataQid])))])
        #expect(harness.session.fids.lookup(4) == nil)
    }

    @Test("a walk through a symlink stops at it, and the fid the server made past it is clunked; a symlink is not opened")
    func symlinks() throws {
        let harness = Self.harness()
        try harness.negotiate()
        _ = try Self.attachToData(harness, token: Self.token(["path = /data"]))
        let through = try harness.forward(tag: 2, .walk(Twalk(fid: 1, newfid: 2, wnames: ["link", "passwd"])))
        let newfid = try #require(through.message.walk?.newfid)
        harness.backendSends(tag: through.tag, .walk(Rwalk(wqids: [Self.linkQid, SessionHarness.fileQid])))
        #expect(try harness.clientReceived() == [Frame(tag: 2, message: .walk(Rwalk(wqids: [Self.linkQid])))])
        #expect(try harness.backendReceived().map(\.message) == [.clunk(Tclunk(fid: newfid))])
        #expect(harness.session.fids.lookup(2) == nil)
        #expect(harness.host.events.map(\.kind) == [.confinementBlocked])

        // Walked to as the last name it is a fid, which may be read as a link but not opened or walked from.
        let toLink = try harness.forward(tag: 3, .walk(Twalk(fid: 1, newfid: 3, wnames: ["link"])))
        harness.backendSends(tag: toLink.tag, .walk(Rwalk(wqids: [Self.linkQid])))
        _ = try harness.clientReceived()
        #expect(try harness.answeredLocally(tag: 4, .lopen(Tlopen(fid: 3, flags: 0))) == [harness.errorReply(.throughSymlink, tag: 4)])
        #expect(try harness.answeredLocally(tag: 5, .walk(Twalk(fid: 3, newfid: 5, wnames: ["x"]))) == [harness.errorReply(.throughSymlink, tag: 5)])
        _ = try harness.forward(tag: 6, .readlink(Treadlink(fid: 3)))
    }

    @Test("a read-only token cannot create, write, truncate, rename, remove or change metadata; each refusal is an event")
    func readOnly() throws {
        let harness = Self.harness()
        try harness.negotiate()
        _ = try Self.attachToData(harness, token: Self.token(["path = /data", "rights = lr"]))
        let denied = harness.errorReply(.permissionDenied, tag: 9)
        let requests: [TMessage] = [
            .lopen(Tlopen(fid: 1, flags: 1)), .lopen(Tlopen(fid: 1, flags: 0o1000)),
            .lcreate(Tlcreate(fid: 1, name: "new", flags: 0, mode: 0o644, gid: 0)),
            .mkdir(Tmkdir(dfid: 1, name: "d", mode: 0o755, gid: 0)),
            .symlink(Tsymlink(fid: 1, name: "s", symtgt: "/", gid: 0)),
            .remove(Tremove(fid: 1)), .unlinkat(Tunlinkat(dirfd: 1, name: "x", flags: 0)),
            .renameat(Trenameat(olddirfid: 1, oldname: "a", newdirfid: 1, newname: "b")),
            .setattr(Tsetattr(fid: 1, valid: 0x8, mode: 0, uid: 0, gid: 0, size: 0, atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0)),
            .setattr(Tsetattr(fid: 1, valid: 0x1, mode: 0o777, uid: 0, gid: 0, size: 0, atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0)),
            .xattrcreate(Txattrcreate(fid: 1, name: "user.x", attrSize: 1, flags: 0)),
        ]
        for request in requests {
            #expect(try harness.answeredLocally(tag: 9, request) == [denied], "\(request.type)")
        }
        #expect(harness.host.events.count == requests.count && harness.host.events.allSatisfy { $0.kind == .permissionDenied })
        #expect(harness.host.events.first?.tokenID != nil && harness.host.events.first?.fid == 1)
        _ = try harness.forward(tag: 10, .lopen(Tlopen(fid: 1, flags: 0)))
    }

    @Test("names with / or NUL, empty, . or .. are refused wherever a request names a file")
    func badNames() throws {
        let harness = Self.harness()
        try harness.negotiate()
        _ = try Self.attachToData(harness, token: Self.token(["path = /data"]))
        let invalid = harness.errorReply(.badName, tag: 9)
        for name: WireString in ["a/b", "", ".", "..", WireString(bytes: [0x61, 0x00])] {
            #expect(try harness.answeredLocally(tag: 9, .lcreate(Tlcreate(fid: 1, name: name, flags: 0, mode: 0o644, gid: 0))) == [invalid])
        }
        #expect(try harness.answeredLocally(tag: 9, .walk(Twalk(fid: 1, newfid: 2, wnames: ["a/../../etc"]))) == [invalid])
        #expect(try harness.answeredLocally(tag: 9, .walk(Twalk(fid: 1, newfid: 2, wnames: ["."]))) == [invalid])
    }

    @Test("a forged, expired or absent (when required) token is refused at attach; nothing reaches the server")
    func refusedTokens() throws {
        let harness = Self.harness(required: true)
        try harness.negotiate()
        let attach = { (aname: String) in TMessage.attach(Tattach(fid: 1, afid: NineP.noFid, uname: "u", aname: WireString(aname), nUname: 0)) }
        let denied = harness.errorReply(.tokenRequired, tag: 1)
        #expect(try harness.answeredLocally(tag: 1, attach("/export")) == [denied])
        var forged = try Self.token(["path = /data"])
        // Another last character (a flipped bit of the tag; a spare bit alone is refused as non-canonical).
        let last = forged.removeLast()
        forged.append(last == "A" ? "B" : "A")
        #expect(try harness.answeredLocally(tag: 1, attach(forged)) == [denied])
        #expect(try harness.answeredLocally(tag: 1, attach(Self.token(["expires = 2020-01-01T00:00:00Z"]))) == [denied])
        #expect(try harness.answeredLocally(tag: 1, attach(Self.token(["backend = archive"]))) == [denied])
        #expect(harness.host.events.map(\.kind) == [.tokenRejected, .invalidCapability, .tokenRejected, .tokenRejected])
        #expect(harness.host.events[2].tokenID?.count == 32 && harness.host.events[2].detail.contains("expired"))
        #expect(harness.session.fids.count == 0)
    }

    @Test("a Tflush of a token's attach in progress is answered at once, and the fid the gateway made is clunked")
    func flushedAttach() throws {
        let harness = Self.harness()
        try harness.negotiate()
        harness.clientSends(tag: 5, .attach(Tattach(fid: 1, afid: NineP.noFid, uname: "u", aname: WireString(try Self.token([])), nUname: 0)))
        let attach = try harness.backendReceived()
        try #require(attach.count == 1)
        harness.clientSends(tag: 6, .flush(Tflush(oldtag: 5)))
        #expect(try harness.clientReceived() == [Frame(tag: 6, message: .flush(Rflush()))])
        harness.backendSends(tag: attach[0].tag, .attach(Rattach(qid: SessionHarness.rootQid)))
        #expect(try harness.clientReceived().isEmpty, "no Rattach after the Rflush")
        let fid = try #require(attach[0].message.attach?.fid)
        #expect(try harness.backendReceived().map(\.message) == [.clunk(Tclunk(fid: fid))])
        #expect(harness.session.fids.lookup(1) == nil)
    }

    @Test("delegation: user.pebble.cap read through a fid is the session's token narrowed to that fid's path and rights, made by the gateway")
    func delegation() throws {
        let harness = Self.harness()
        try harness.negotiate()
        _ = try Self.attachToData(harness, token: Self.token(["path = /data", "rights = lrwd"]))
        let walk = try harness.forward(tag: 2, .walk(Twalk(fid: 1, newfid: 2, wnames: ["notes"])))
        harness.backendSends(tag: walk.tag, .walk(Rwalk(wqids: [Qid(type: Qid.directory, version: 0, path: 30)])))
        _ = try harness.clientReceived()

        let size = try harness.answeredLocally(tag: 3, .xattrwalk(Txattrwalk(fid: 2, newfid: 3, name: RequestPolicy.delegationAttribute)))
        guard case let .xattrwalk(reply)? = size.first?.message else {
            Issue.record("no Rxattrwalk: \(size)")
            return
        }
        let read = try harness.answeredLocally(tag: 4, .read(Tread(fid: 3, offset: 0, count: 4096)))
        guard case let .read(data)? = read.first?.message else {
            Issue.record("no Rread: \(read)")
            return
        }
        #expect(UInt64(data.data.count) == reply.size)
        let delegated = String(decoding: data.data, as: UTF8.self)
        let capability = try TokenVerifier(keys: Self.keys).verify(CapabilityToken(text: delegated))
        #expect(capability.root.description == "/data/notes" && capability.rights == [.lookup, .read, .write, .delete])
        #expect(try harness.answeredLocally(tag: 5, .read(Tread(fid: 3, offset: reply.size, count: 10))) == [Frame(tag: 5, message: .read(Rread(data: [])))])
        // It is only read and clunked, and never named to the server.
        #expect(try harness.answeredLocally(tag: 6, .walk(Twalk(fid: 3, newfid: 4, wnames: []))) == [harness.errorReply(.fidKind, tag: 6)])
        #expect(try harness.answeredLocally(tag: 7, .rename(Trename(fid: 2, dfid: 3, name: "x"))) == [harness.errorReply(.fidKind, tag: 7)])
        #expect(try harness.answeredLocally(tag: 8, .clunk(Tclunk(fid: 3))) == [Frame(tag: 8, message: .clunk(Rclunk()))])
        #expect(harness.session.fids.lookup(3) == nil)

        // Without a token the attribute is the server's business.
        let plain = SessionHarness()
        try plain.negotiate()
        try plain.attach(fid: 1)
        _ = try plain.forward(tag: 2, .xattrwalk(Txattrwalk(fid: 1, newfid: 2, name: RequestPolicy.delegationAttribute)))
    }

    @Test("a token through the auth fid: Tauth is answered by the gateway, the token written to the afid, and Tattach names it")
    func tokenThroughAuthFid() throws {
        let harness = Self.harness(required: true)
        try harness.negotiate()
        let auth = try harness.answeredLocally(tag: 1, .auth(Tauth(afid: 9, uname: "glenda", aname: "")))
        guard case let .auth(rauth)? = auth.first?.message else {
            Issue.record("no Rauth: \(auth)")
            return
        }
        #expect(rauth.aqid.type == Qid.auth)
        let token = Array(try Self.token(["path = /data", "rights = lr"]).utf8)
        // Written in two pieces, as a client may.
        #expect(try harness.answeredLocally(tag: 2, .write(Twrite(fid: 9, offset: 0, data: Array(token[..<20]))))
            == [Frame(tag: 2, message: .write(Rwrite(count: 20)))])
        #expect(try harness.answeredLocally(tag: 3, .write(Twrite(fid: 9, offset: 20, data: Array(token[20...]))))
            == [Frame(tag: 3, message: .write(Rwrite(count: UInt32(token.count - 20))))])
        harness.clientSends(tag: 4, .attach(Tattach(fid: 1, afid: 9, uname: "glenda", aname: "", nUname: 1000)))
        let attach = try harness.backendReceived()
        try #require(attach.count == 1)
        #expect(attach[0].message.attach?.afid == NineP.noFid && attach[0].message.attach?.aname == "/export")
        harness.backendSends(tag: attach[0].tag, .attach(Rattach(qid: SessionHarness.rootQid)))
        let walk = try harness.backendReceived()
        try #require(walk.count == 1)
        harness.backendSends(tag: walk[0].tag, .walk(Rwalk(wqids: [Self.dataQid])))
        _ = try harness.backendReceived()
        #expect(try harness.clientReceived() == [Frame(tag: 4, message: .attach(Rattach(qid: Self.dataQid)))])
        #expect(harness.session.fids.lookup(1)?.scope?.rights == [.lookup, .read])
        #expect(try harness.answeredLocally(tag: 5, .clunk(Tclunk(fid: 9))) == [Frame(tag: 5, message: .clunk(Rclunk()))])
        // An auth fid with nothing written: no token, and one is required.
        _ = try harness.answeredLocally(tag: 6, .auth(Tauth(afid: 10, uname: "glenda", aname: "")))
        #expect(try harness.answeredLocally(tag: 7, .attach(Tattach(fid: 2, afid: 10, uname: "glenda", aname: "", nUname: 1000)))
            == [harness.errorReply(.tokenRequired, tag: 7)])
    }

    @Test("a token in the uname works as in the aname; its uname caveat is the user the gateway attaches as")
    func tokenAsUname() throws {
        let harness = Self.harness()
        try harness.negotiate()
        let token = WireString(try Self.token(["uname = alice"]))
        harness.clientSends(tag: 1, .attach(Tattach(fid: 1, afid: NineP.noFid, uname: token, aname: "", nUname: 0)))
        let attach = try harness.backendReceived()
        try #require(attach.count == 1)
        #expect(attach[0].message.attach?.uname == "alice" && attach[0].message.attach?.nUname == NineP.noUid)
        #expect(attach[0].message.attach?.aname == "/export")
        harness.backendSends(tag: attach[0].tag, .attach(Rattach(qid: SessionHarness.rootQid)))
        #expect(try harness.clientReceived() == [Frame(tag: 1, message: .attach(Rattach(qid: SessionHarness.rootQid)))])
        #expect(harness.session.fids.lookup(1)?.scope?.tokenID != nil)
    }

    @Test("a token's fids caveat narrows the session's fid budget (EDQUOT past it, a BUDGET_EXCEEDED event naming the token)")
    func fidsCaveat() throws {
        let harness = Self.harness()
        try harness.negotiate()
        _ = try Self.attachToData(harness, token: Self.token(["path = /data", "fids = 2"]))
        let walk = try harness.forward(tag: 2, .walk(Twalk(fid: 1, newfid: 2, wnames: [])))
        harness.backendSends(tag: walk.tag, .walk(Rwalk(wqids: [])))
        _ = try harness.clientReceived()
        #expect(try harness.answeredLocally(tag: 3, .walk(Twalk(fid: 1, newfid: 3, wnames: [])))
            == [Frame(tag: 3, message: .lerror(Rlerror(ecode: 122)))])
        #expect(harness.host.events.map(\.kind) == [.budgetExceeded] && harness.host.events.first?.tokenID != nil)
        _ = try harness.forward(tag: 4, .getattr(Tgetattr(fid: 2, requestMask: 1)))
    }

    @Test("a token's attach tells the host its id first (its budgets become the token's); when the host refuses (the token's sessions are past max-conns-per-client) the attach gets EDQUOT and nothing reaches the server")
    func tokenIdentity() throws {
        let harness = Self.harness()
        try harness.negotiate()
        let token = try Self.token(["path = /data"])
        let id = try CapabilityToken(text: token).idHex
        harness.host.tokenAttachRefusal = .budgetExceeded(.connections, "connections of token:\(id) (1)")
        let refused = try harness.answeredLocally(tag: 1, .attach(Tattach(fid: 1, afid: NineP.noFid, uname: "u", aname: WireString(token), nUname: 0)))
        #expect(refused == [Frame(tag: 1, message: .lerror(Rlerror(ecode: 122)))])
        #expect(harness.host.events.map(\.kind) == [.budgetExceeded] && harness.host.events.first?.budget == .connections)
        #expect(harness.session.fids.count == 0 && harness.session.tags.outstanding == 0)
        harness.host.tokenAttachRefusal = nil
        _ = try Self.attachToData(harness, token: token, tag: 2)
        #expect(harness.host.tokenAttaches == [id, id])
    }
}
