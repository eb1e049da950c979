import Testing
@testable import Gateway
import NineP

/// The session deciding on the head of a Twrite or Rread whose data is still arriving (the gateway
/// splices the rest): the same checks and rewrites as for a whole frame, from the fixed fields alone.
@Suite struct FrameHeadTests {
    /// The first `headCount` bytes of `frame`, handed to `body` as the gateway's input buffer would.
    static func withHead<T>(of frame: [UInt8], _ headCount: Int, _ body: (UnsafeMutableRawBufferPointer, Int) -> T) -> T {
        var head = Array(frame.prefix(headCount))
        return head.withUnsafeMutableBytes { body($0, frame.count - headCount) }
    }

    static let payload: [UInt8] = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }

    /// A negotiated session with client fid 1 attached.
    static func attached() throws -> SessionHarness {
        let harness = SessionHarness()
        try harness.negotiate(msize: 65536)
        try harness.attach(fid: 1)
        return harness
    }

    /// A session with a Tread (client tag 21) at the backend, and the backend's Rread to it.
    static func pendingRead() throws -> (SessionHarness, [UInt8]) {
        let harness = try attached()
        let sent = try harness.forward(tag: 21, .read(Tread(fid: 1, offset: 0, count: 5000)))
        return (harness, Frame(tag: sent.tag, message: RMessage.read(Rread(data: Self.payload))).encode(dialect: .linux))
    }

    @Test("a Twrite head is checked, its fid and tag rewritten, and forwarded; the rest is to follow")
    func twriteHeadForwarded() throws {
        let harness = SessionHarness()
        try harness.negotiate(msize: 65536)
        let backend1 = try harness.attach(fid: 1)
        let frame = Frame(tag: 9, message: TMessage.write(Twrite(fid: 1, offset: 1 << 40, data: Self.payload))).encode(dialect: .linux)
        let forwarded = Self.withHead(of: frame, 100) { harness.session.clientFrame($0, payloadToFollow: $1) }
        #expect(forwarded)
        #expect(try harness.clientReceived().isEmpty)
        let head = try #require(harness.host.toBackend.last)
        harness.host.toBackend.removeAll()
        #expect(head.count == 100)
        // What the backend ends up with: the client's frame with its fid and tag rewritten.
        let whole = try Frame<TMessage>.decode(head + frame[100...], dialect: .linux)
        #expect(whole.message == .write(Twrite(fid: backend1, offset: 1 << 40, data: Self.payload)))
        harness.backendSends(tag: whole.tag, .write(Rwrite(count: 5000)))
        #expect(try harness.clientReceived() == [Frame(tag: 9, message: .write(Rwrite(count: 5000)))])
    }

    @Test("a Twrite head naming a fid the client does not hold is answered and not forwarded")
    func twriteHeadUnknownFid() throws {
        let harness = try Self.attached()
        let frame = Frame(tag: 9, message: TMessage.write(Twrite(fid: 77, offset: 0, data: Self.payload))).encode(dialect: .linux)
        let forwarded = Self.withHead(of: frame, 100) { harness.session.clientFrame($0, payloadToFollow: $1) }
        #expect(!forwarded)
        #expect(try harness.backendReceived().isEmpty)
        #expect(try harness.clientReceived() == [harness.errorReply(.unknownFid, tag: 9)])
        #expect(harness.session.stats.bytesFromClient > frame.count) // version, attach and the whole Twrite
    }

    @Test("a Twrite head whose count disagrees with its size is refused", arguments: [-1, 1])
    func twriteHeadBadCount(delta: Int) throws {
        let harness = try Self.attached()
        var frame = Frame(tag: 9, message: TMessage.write(Twrite(fid: 1, offset: 0, data: Self.payload))).encode(dialect: .linux)
        let count = UInt32(Self.payload.count + delta)
        frame.replaceSubrange(19..<23, with: withUnsafeBytes(of: count.littleEndian, Array.init))
        let forwarded = Self.withHead(of: frame, 64) { harness.session.clientFrame($0, payloadToFollow: $1) }
        #expect(!forwarded)
        #expect(try harness.backendReceived().isEmpty)
        let replies = try harness.clientReceived()
        #expect(replies.count == 1 && replies.first?.tag == 9)
    }

    @Test("only a Twrite may come as a head: any other request must be whole")
    func otherHeadsRefused() throws {
        let harness = try Self.attached()
        let frame = Frame(tag: 4, message: TMessage.walk(Twalk(fid: 1, newfid: 2, wnames: ["a", "b"]))).encode(dialect: .linux)
        let forwarded = Self.withHead(of: frame, frame.count - 2) { harness.session.clientFrame($0, payloadToFollow: $1) }
        #expect(!forwarded)
        #expect(try harness.backendReceived().isEmpty)
        #expect(try harness.clientReceived().map(\.tag) == [4])
        #expect(harness.session.fids.lookup(2) == nil)
    }

    @Test("an Rread head goes to the client under the client's tag; its data is counted as sent")
    func rreadHeadDelivered() throws {
        let (harness, reply) = try Self.pendingRead()
        let before = harness.session.stats.bytesToClient
        let delivered = Self.withHead(of: reply, 11) { harness.session.backendFrame($0, payloadToFollow: $1) }
        #expect(delivered)
        let head = try #require(harness.host.toClient.last)
        #expect(head.count == 11)
        #expect(FrameHeader.peek(head.withUnsafeBytes { $0 }) == FrameHeader(size: UInt32(reply.count), type: MessageType.Rread.rawValue, tag: 21))
        #expect(harness.session.stats.bytesToClient - before == reply.count)
        #expect(harness.session.tags.outstanding == 0)
    }

    @Test("an Rread head for a request of a client that has left is dropped (its data with it)")
    func rreadHeadForAbandonedRequest() throws {
        let (harness, reply) = try Self.pendingRead()
        harness.session.clientClosed()
        harness.host.toBackend.removeAll()
        let delivered = Self.withHead(of: reply, 2000) { harness.session.backendFrame($0, payloadToFollow: $1) }
        #expect(!delivered)
        #expect(harness.host.toClient.isEmpty)
    }

    @Test("a head that is not an Rread (an Rreaddir, or an Rwrite claiming more bytes) is refused to the client",
          arguments: [MessageType.Rreaddir, .Rwrite])
    func nonRreadBackendHead(type: MessageType) throws {
        let (harness, reply) = try Self.pendingRead()
        var badReply = reply
        badReply[4] = type.rawValue
        let delivered = Self.withHead(of: badReply, 11) { harness.session.backendFrame($0, payloadToFollow: $1) }
        #expect(!delivered)
        #expect(try harness.clientReceived() == [harness.errorReply(.badBackendReply, tag: 21)])
    }
}
