import Testing
@testable import Gateway
import NineP
import Pebble

/// A `ProxySession` over a `RecordingHost`. The test plays both peers: it encodes real frames with
/// the codec, hands the session a mutable copy (as the gateway hands it its input buffer), and
/// decodes what the session sent to either side.
final class SessionHarness {
    let host = RecordingHost()
    let session: ProxySession
    /// The dialect frames are encoded and decoded in: the session's once negotiated.
    var dialect: Dialect

    static let rootQid = Qid(type: Qid.directory, version: 0, path: 1)
    static let fileQid = Qid(type: 0, version: 3, path: 42)

    init(limits: ProxySession.Limits = .init(), access: ProxySession.Access = .init(), dialect: Dialect = .linux) {
        session = ProxySession(limits: limits, access: access, host: host)
        self.dialect = dialect
    }

    // MARK: Feeding frames

    func clientSends(_ bytes: [UInt8]) {
        var copy = bytes
        copy.withUnsafeMutableBytes { _ = session.clientFrame($0) }
    }

    func clientSends(tag: UInt16, _ message: TMessage) {
        clientSends(Frame(tag: tag, message: message).encode(dialect: dialect))
    }

    /// Hands the session a backend frame, then lets it send held requests, as the gateway does
    /// when its queues have room.
    func backendSends(_ bytes: [UInt8]) {
        var copy = bytes
        copy.withUnsafeMutableBytes { _ = session.backendFrame($0) }
        session.sendHeld()
    }

    func backendSends(tag: UInt16, _ message: RMessage) {
        backendSends(Frame(tag: tag, message: message).encode(dialect: dialect))
    }

    // MARK: Reading what the session sent

    /// Frames sent to the backend since the last call, decoded (and forgotten).
    func backendReceived() throws -> [Frame<TMessage>] {
        let frames = host.toBackend
        host.toBackend.removeAll()
        return try frames.map { bytes throws -> Frame<TMessage> in try Frame<TMessage>.decode(bytes, dialect: dialect) }
    }

    /// Frames sent to the client since the last call, decoded (and forgotten).
    func clientReceived() throws -> [Frame<RMessage>] {
        let frames = host.toClient
        host.toClient.removeAll()
        return try frames.map { bytes throws -> Frame<RMessage> in try Frame<RMessage>.decode(bytes, dialect: dialect) }
    }

    /// The one frame a client request caused at the backend; the client must have heard nothing.
    func forward(tag: UInt16, _ message: TMessage, sourceLocation: SourceLocation = #_sourceLocation) throws -> Frame<TMessage> {
        clientSends(tag: tag, message)
        let replies = try clientReceived()
        #expect(replies.isEmpty, "the gateway answered \(message.type) itself: \(replies)", sourceLocation: sourceLocation)
        let sent = try backendReceived()
        try #require(sent.count == 1, "expected one frame at the backend, got \(sent)", sourceLocation: sourceLocation)
        return sent[0]
    }

    /// What the client got for a request the gateway must answer itself; the backend must see nothing.
    func answeredLocally(tag: UInt16, _ message: TMessage, sourceLocation: SourceLocation = #_sourceLocation) throws -> [Frame<RMessage>] {
        clientSends(tag: tag, message)
        let sent = try backendReceived()
        #expect(sent.isEmpty, "\(message.type) reached the backend: \(sent)", sourceLocation: sourceLocation)
        return try clientReceived()
    }

    // MARK: Common exchanges

    /// Negotiates `dialect` at `msize`, playing the backend's Rversion (which says `backendMsize`,
    /// or `msize`): the client gets `msize` when the session bridges, else the backend's.
    func negotiate(_ dialect: Dialect = .linux, msize: UInt32 = 8192, backendMsize: UInt32? = nil) throws {
        self.dialect = dialect
        clientSends(tag: NineP.noTag, .version(Tversion(msize: msize, version: dialect.version)))
        let sent = try backendReceived()
        try #require(sent == [Frame(tag: NineP.noTag, message: .version(Tversion(msize: msize, version: dialect.version)))])
        backendSends(tag: NineP.noTag, .version(Rversion(msize: backendMsize ?? msize, version: dialect.version)))
        let agreed = session.limits.bridgeMsize ? msize : min(msize, backendMsize ?? msize)
        try #require(try clientReceived() == [Frame(tag: NineP.noTag, message: .version(Rversion(msize: agreed, version: dialect.version)))])
        try #require(session.phase == .active)
    }

    var nUname: UInt32 { dialect.hasUnixExtensions ? 1000 : NineP.noUid }

    /// Attaches client `fid` to the root and returns the backend fid that stands for it.
    @discardableResult
    func attach(fid: UInt32, tag: UInt16 = 1) throws -> UInt32 {
        let sent = try forward(tag: tag, .attach(Tattach(fid: fid, afid: NineP.noFid, uname: "glenda", aname: "", nUname: nUname)))
        let attach = try #require(sent.message.attach)
        backendSends(tag: sent.tag, .attach(Rattach(qid: Self.rootQid)))
        try #require(try clientReceived() == [Frame(tag: tag, message: .attach(Rattach(qid: Self.rootQid)))])
        try #require(session.fids.lookup(fid)?.state == .ready)
        return attach.fid
    }

    /// Walks `fid` to a new `newfid` and answers with a full Rwalk; returns newfid's backend fid.
    @discardableResult
    func walk(fid: UInt32, newfid: UInt32, names: [WireString] = ["usr"], tag: UInt16 = 2) throws -> UInt32 {
        let sent = try forward(tag: tag, .walk(Twalk(fid: fid, newfid: newfid, wnames: names)))
        let walk = try #require(sent.message.walk)
        let qids = names.map { _ in Self.fileQid }
        backendSends(tag: sent.tag, .walk(Rwalk(wqids: qids)))
        try #require(try clientReceived() == [Frame(tag: tag, message: .walk(Rwalk(wqids: qids)))])
        try #require(session.fids.lookup(newfid)?.state == .ready)
        return walk.newfid
    }

    /// The error reply `error` becomes in this harness's dialect.
    func errorReply(_ error: ProxyError, tag: UInt16) -> Frame<RMessage> {
        Self.errorReply(errno: error.errno, message: WireString(error.message), tag: tag, dialect: dialect)
    }

    static func errorReply(errno: UInt32, message: WireString, tag: UInt16, dialect: Dialect) -> Frame<RMessage> {
        switch dialect {
        case .linux: Frame(tag: tag, message: .lerror(Rlerror(ecode: errno)))
        case .unix: Frame(tag: tag, message: .error(Rerror(ename: message, errno: errno)))
        case .plan9: Frame(tag: tag, message: .error(Rerror(ename: message)))
        }
    }

    static let sampleGetattr = Rgetattr(
        valid: 0x7FF, qid: fileQid, mode: 0o100644, uid: 1000, gid: 100, nlink: 1, rdev: 0,
        size: 12, blksize: 4096, blocks: 1, atimeSec: 1, atimeNsec: 2, mtimeSec: 3,
        mtimeNsec: 4, ctimeSec: 5, ctimeNsec: 6, btimeSec: 7, btimeNsec: 8, gen: 9, dataVersion: 10
    )
}

/// Case accessors, so a test can `#require` the message it expects and read its fields.
extension TMessage {
    var attach: Tattach? { if case let .attach(message) = self { message } else { nil } }
    var auth: Tauth? { if case let .auth(message) = self { message } else { nil } }
    var walk: Twalk? { if case let .walk(message) = self { message } else { nil } }
    var flush: Tflush? { if case let .flush(message) = self { message } else { nil } }
    var clunk: Tclunk? { if case let .clunk(message) = self { message } else { nil } }
}

extension RMessage {
    var error: Rerror? { if case let .error(message) = self { message } else { nil } }
    var lerror: Rlerror? { if case let .lerror(message) = self { message } else { nil } }
}

extension Array where Element == UInt8 {
    /// The same bytes with the size field rewritten to the array's length.
    func withSizePatched() -> [UInt8] {
        var copy = self
        let size = UInt32(count).littleEndian
        Swift.withUnsafeBytes(of: size) { raw in for index in 0..<4 { copy[index] = raw[index] } }
        return copy
    }
}
