import Testing
import TestSupport
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

    @Test("names that are not UTF-8 (Linux file names are any bytes) are kept byte for byte")
    func namesAreBytes() throws {
        let latin1: WireString = WireString(bytes: [0x63, 0x61, 0x66, 0xE9])  // "café" in Latin-1
        #expect(latin1.string == nil)
        #expect(latin1.description == "caf\u{FFFD}")
        let messages: [TMessage] = [
            .walk(Twalk(fid: 1, newfid: 2, wnames: ["dir", latin1])),
            .lcreate(Tlcreate(fid: 1, name: latin1, flags: 0, mode: 0o644, gid: 0)),
            .renameat(Trenameat(olddirfid: 1, oldname: latin1, newdirfid: 1, newname: WireString(bytes: [0xFF, 0x00, 0x2F]))),
        ]
        for message in messages {
            let bytes = Frame(tag: 7, message: message).encode(dialect: .linux)
            let decoded = try Frame<TMessage>.decode(bytes, dialect: .linux)
            #expect(decoded.message == message)
            #expect(decoded.encode(dialect: .linux) == bytes)
        }
        let entries = [Dirent(qid: Samples.qid, offset: 1, type: 8, name: latin1)]
        #expect(try Dirent.decodeAll(Dirent.encodeAll(entries)) == entries)
    }

    @Test("a string longer than its 2-byte length can say is cut at a character boundary")
    func longStringIsCut() {
        var writer = WireWriter()
        writer.string(WireString(String(repeating: "é", count: 40_000)))  // 80000 bytes of UTF-8
        let length = Int(writer.bytes[0]) | Int(writer.bytes[1]) << 8
        #expect(length == 65_534)
        #expect(writer.bytes.count == 2 + 65_534)
        #expect(String(validating: writer.bytes[2...], as: UTF8.self) != nil)
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

    @Test("validating directory data agrees with decoding it, on every prefix and on random corruptions", arguments: [Dialect.plan9, .unix])
    func directoryValidation(dialect: Dialect) {
        var writer = WireWriter()
        for stat in [Samples.stat(dialect), Samples.stat(dialect)] { stat.encode(into: &writer, dialect: dialect) }
        func agree(_ data: [UInt8]) -> Bool {
            let decodes = (try? Stat.decodeDirectory(data, dialect: dialect)) != nil
            let valid = data.withUnsafeBytes { (try? Stat.validateDirectory($0, dialect: dialect)) != nil }
            return decodes == valid
        }
        for length in 0...writer.bytes.count {
            #expect(agree(Array(writer.bytes[..<length])), "prefix of \(length) bytes")
        }
        var random = SplitMix64(seed: 7)
        for round in 0..<2000 {
            var data = writer.bytes
            for _ in 0...random.below(3) { data[random.below(data.count)] = UInt8(truncatingIfNeeded: random.next()) }
            #expect(agree(data), "corruption round \(round)")
        }
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
