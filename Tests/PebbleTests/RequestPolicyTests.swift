import NineP
import Pebble
import Testing

/// The request policy's first rules, decided without a session: each request is encoded by the
/// codec, decoded as the session decodes it, and its fids located by the same layout table.
@Suite struct RequestPolicyTests {
    static let msize: UInt32 = 8192

    /// Decides `message` with the client holding `held` (client fid → record).
    func decide(_ message: TMessage, held: [UInt32: ClientFid] = [:], changing: Set<UInt32> = [],
                maxFids: Int = 100, dialect: Dialect = .linux) throws -> RequestPolicy.Decision {
        let bytes = Frame(tag: 1, message: message).encode(dialect: dialect)
        return try bytes.withUnsafeBytes { frame in
            let request = try DecodedRequest.decode(frame, frameSize: frame.count, type: message.type, dialect: dialect)
            let operands = try message.type.info.locateFids(in: frame).map { location in
                let clientFid = FramePatch.u32(at: location.offset, in: frame)
                return RequestPolicy.Operand(location: location, clientFid: clientFid, record: held[clientFid],
                                             kindChanging: changing.contains(clientFid))
            }
            let state = RequestPolicy.SessionState(msize: Self.msize, fidCount: held.count, maxFids: maxFids)
            return RequestPolicy().decide(request, operands: operands, session: state)
        }
    }

    func fid(_ kind: ClientFid.Kind = .plain, state: ClientFid.State = .ready, xattrSize: UInt64? = nil) -> ClientFid {
        var record = ClientFid(backendFid: 77, state: state)
        record.kind = kind
        record.xattrSize = xattrSize
        return record
    }

    static let forward = RequestPolicy.Decision.forward(.init())

    @Test("a fid the client does not hold, or one another request is creating or releasing, is refused")
    func fidHygiene() throws {
        #expect(try decide(.getattr(Tgetattr(fid: 5, requestMask: 0x7ff))) == .deny(.unknownFid))
        #expect(try decide(.getattr(Tgetattr(fid: 5, requestMask: 0x7ff)), held: [5: fid()]) == Self.forward)
        #expect(try decide(.clunk(Tclunk(fid: 5)), held: [5: fid(state: .pending)]) == .deny(.fidBusy))
        #expect(try decide(.clunk(Tclunk(fid: 5)), held: [5: fid(state: .releasing)]) == .deny(.fidBusy))
        // The second fid is checked too.
        let rename = TMessage.rename(Trename(fid: 5, dfid: 6, name: "b"))
        #expect(try decide(rename, held: [5: fid()]) == .deny(.unknownFid))
        #expect(try decide(rename, held: [5: fid(), 6: fid()]) == Self.forward)
    }

    @Test("a new fid must be unused and not NOFID, within max-fids; a walk onto its own fid replaces it")
    func newFids() throws {
        let walk = { (newfid: UInt32) in TMessage.walk(Twalk(fid: 1, newfid: newfid, wnames: ["a"])) }
        #expect(try decide(walk(2), held: [1: fid()]) == Self.forward)
        #expect(try decide(walk(2), held: [1: fid(), 2: fid()]) == .deny(.fidInUse))
        #expect(try decide(walk(NineP.noFid), held: [1: fid()]) == .deny(.fidInUse))
        #expect(try decide(walk(1), held: [1: fid()]) == Self.forward)
        #expect(try decide(walk(2), held: [1: fid()], maxFids: 1) == .deny(.budgetExceeded(.fids, "fids (1)")))
        #expect(try decide(walk(1), held: [1: fid()], maxFids: 1) == Self.forward, "in place: no new fid")
        let attach = TMessage.attach(Tattach(fid: 1, afid: NineP.noFid, uname: "u", aname: "/", nUname: 0))
        #expect(try decide(attach) == Self.forward)
    }

    @Test("an auth fid is only read, written, clunked, removed (as a clunk) and named as Tattach's afid")
    func authFids() throws {
        let held: [UInt32: ClientFid] = [3: fid(.auth), 1: fid()]
        #expect(try decide(.walk(Twalk(fid: 3, newfid: 4, wnames: [])), held: held) == .deny(.fidKind))
        #expect(try decide(.read(Tread(fid: 3, offset: 0, count: 100)), held: held) == Self.forward)
        #expect(try decide(.remove(Tremove(fid: 3)), held: held)
            == .forward(.init(sendAs: .Tclunk, answerInstead: .authRemove)))
        #expect(try decide(.remove(Tremove(fid: 1)), held: held) == Self.forward)
        let attach = { (afid: UInt32) in TMessage.attach(Tattach(fid: 9, afid: afid, uname: "u", aname: "/", nUname: 0)) }
        #expect(try decide(attach(3), held: held) == Self.forward)
        #expect(try decide(attach(1), held: held) == .deny(.notAuthFid))
        // As a second fid it is no file: Trename's directory may not be one.
        #expect(try decide(.rename(Trename(fid: 1, dfid: 3, name: "x")), held: held) == .deny(.fidKind))
    }

    @Test("xattr and open fids refuse what servers break on; while a fid's kind changes those wait (EBUSY)")
    func kinds() throws {
        let held: [UInt32: ClientFid] = [1: fid(.xattr, xattrSize: 10), 2: fid(.open), 5: fid()]
        #expect(try decide(.walk(Twalk(fid: 1, newfid: 9, wnames: [])), held: held) == .deny(.fidKind))
        #expect(try decide(.readdir(Treaddir(fid: 1, offset: 0, count: 100)), held: held) == .deny(.fidKind))
        #expect(try decide(.rename(Trename(fid: 2, dfid: 5, name: "x")), held: held) == .deny(.fidKind))
        #expect(try decide(.walk(Twalk(fid: 2, newfid: 9, wnames: [])), held: held) == Self.forward)
        #expect(try decide(.walk(Twalk(fid: 5, newfid: 9, wnames: [])), held: held, changing: [5]) == .deny(.fidBusy))
        #expect(try decide(.getattr(Tgetattr(fid: 5, requestMask: 1)), held: held, changing: [5]) == Self.forward)
    }

    @Test("past an xattr's size a read finds nothing and a write is refused, without the server")
    func xattrSize() throws {
        let held: [UInt32: ClientFid] = [1: fid(.xattr, xattrSize: 10)]
        #expect(try decide(.read(Tread(fid: 1, offset: 10, count: 5)), held: held) == Self.forward)
        #expect(try decide(.read(Tread(fid: 1, offset: 11, count: 5)), held: held) == .answer(.read(Rread(data: []))))
        #expect(try decide(.write(Twrite(fid: 1, offset: 11, data: [1])), held: held) == .deny(.xattrOffset))
        #expect(try decide(.write(Twrite(fid: 1, offset: 3, data: [1])), held: held) == Self.forward)
    }

    @Test("a read's or readdir's count is capped to what a reply within msize carries; a write's is not")
    func counts() throws {
        let held: [UInt32: ClientFid] = [1: fid(.open)]
        let fits = Self.msize - UInt32(NineP.rreadHeaderSize)
        #expect(try decide(.read(Tread(fid: 1, offset: 0, count: fits)), held: held) == Self.forward)
        #expect(try decide(.read(Tread(fid: 1, offset: 0, count: fits + 1)), held: held) == .forward(.init(count: fits)))
        #expect(try decide(.readdir(Treaddir(fid: 1, offset: 0, count: .max)), held: held) == .forward(.init(count: fits)))
    }

    @Test("a Twrite is decided from its head alone, and its count must match the frame's size")
    func writeHead() throws {
        let bytes = Frame(tag: 1, message: TMessage.write(Twrite(fid: 1, offset: 7, data: Array(repeating: 0, count: 100))))
            .encode(dialect: .linux)
        let head = try bytes.withUnsafeBytes {
            try DecodedRequest.decode(UnsafeRawBufferPointer(rebasing: $0[..<30]), frameSize: bytes.count, type: .Twrite, dialect: .linux)
        }
        #expect(head.message == nil && head.offset == 7 && head.count == 100)
        #expect(throws: WireError.self) {
            try bytes.withUnsafeBytes {
                try DecodedRequest.decode(UnsafeRawBufferPointer(rebasing: $0[..<30]), frameSize: bytes.count + 1, type: .Twrite, dialect: .linux)
            }
        }
    }
}
