import Testing
import NineP

@Suite("Round trips")
struct RoundTripTests {
    @Test("the samples cover every message type of every dialect it belongs to")
    func samplesCoverEveryType() {
        for dialect in Dialect.allCases {
            let covered = Set(Samples.frames(dialect).map(\.type))
            for type in MessageType.allCases where type.info.dialects.contains(dialect) {
                #expect(covered.contains(type), "no \(type) sample for \(dialect)")
            }
        }
    }

    @Test("encode → decode gives the message back, and decode → encode the same bytes", arguments: Dialect.allCases)
    func roundTrip(dialect: Dialect) throws {
        for message in Samples.requests(dialect) {
            let frame = Frame(tag: 0x1234, message: message)
            let bytes = frame.encode(dialect: dialect)
            #expect(bytes.count >= FrameHeader.byteCount)
            #expect(Array(bytes.prefix(4)) == Array(bytes.withSize(bytes.count).prefix(4)), "size field of \(message.type)")
            #expect(bytes[4] == message.type.rawValue)
            let decoded = try Frame<TMessage>.decode(bytes, dialect: dialect)
            #expect(decoded == frame, "\(message.type) in \(dialect)")
            #expect(decoded.encode(dialect: dialect) == bytes)
        }
        for message in Samples.replies(dialect) {
            let frame = Frame(tag: 0x1234, message: message)
            let bytes = frame.encode(dialect: dialect)
            #expect(Array(bytes.prefix(4)) == Array(bytes.withSize(bytes.count).prefix(4)), "size field of \(message.type)")
            #expect(bytes[4] == message.type.rawValue)
            let decoded = try Frame<RMessage>.decode(bytes, dialect: dialect)
            #expect(decoded == frame, "\(message.type) in \(dialect)")
            #expect(decoded.encode(dialect: dialect) == bytes)
        }
    }

    @Test("the same bytes decoded through an unaligned raw view")
    func unalignedView() throws {
        let bytes = Frame(tag: 1, message: TMessage.walk(Twalk(fid: 1, newfid: 2, wnames: ["a"])))
            .encode(dialect: .linux)
        let padded = [0xAA] + bytes
        let decoded = try padded.withUnsafeBytes { raw in
            try Frame<TMessage>.decode(UnsafeRawBufferPointer(rebasing: raw[1...]), dialect: .linux)
        }
        #expect(decoded.message == .walk(Twalk(fid: 1, newfid: 2, wnames: ["a"])))
    }

    @Test("Rreaddir data decodes to its dirents")
    func dirents() throws {
        let data = Dirent.encodeAll(Samples.dirents)
        #expect(try Dirent.decodeAll(data) == Samples.dirents)
        #expect(throws: WireError.self) { try Dirent.decodeAll(Array(data.dropLast())) }
        #expect(try Dirent.decodeAll([]) == [])
    }

    @Test("9P2000 directory data decodes to its stats", arguments: [Dialect.plan9, .unix])
    func directoryStats(dialect: Dialect) throws {
        var writer = WireWriter()
        let stats = [Samples.stat(dialect), Samples.stat(dialect)]
        for stat in stats { stat.encode(into: &writer, dialect: dialect) }
        #expect(try Stat.decodeDirectory(writer.bytes, dialect: dialect) == stats)
        #expect(throws: WireError.self) { try Stat.decodeDirectory(Array(writer.bytes.dropLast()), dialect: dialect) }
    }

    @Test("fields a dialect lacks decode to their 'none' values")
    func absentFields() throws {
        let bytes = Frame(tag: 1, message: TMessage.attach(Tattach(fid: 1, afid: NineP.noFid, uname: "u", aname: "")))
            .encode(dialect: .plan9)
        guard case let .attach(attach) = try Frame<TMessage>.decode(bytes, dialect: .plan9).message else {
            Issue.record("not a Tattach")
            return
        }
        #expect(attach.nUname == NineP.noUid)
    }
}
