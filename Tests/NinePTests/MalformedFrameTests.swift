import Testing
import TestSupport
import NineP

/// A malformed frame must become a `WireError`, never a trap or a wrong message.
@Suite("Malformed frames")
struct MalformedFrameTests {
    /// The frames that may legitimately lose their last four bytes: the field is optional on the wire.
    func optionalTail(_ bytes: [UInt8], _ dialect: Dialect) -> Bool {
        guard let frame = try? Frame<TMessage>.decode(bytes, dialect: dialect) else {
            guard let reply = try? Frame<RMessage>.decode(bytes, dialect: dialect) else { return false }
            if dialect == .linux, case let .error(error) = reply.message { return error.errno != nil }
            return false
        }
        if case let .fsync(fsync) = frame.message { return fsync.datasync != nil }
        return false
    }

    @Test("every strict prefix fails", arguments: Dialect.allCases)
    func prefixes(dialect: Dialect) {
        for (type, bytes) in Samples.frames(dialect) {
            for length in 0..<bytes.count {
                var prefix = Array(bytes[..<length])
                if length >= 4 { prefix = prefix.withSize(length) }
                if length == bytes.count - 4, optionalTail(bytes, dialect) {
                    // Tfsync without datasync, .L Rerror without errno: valid, shorter frames.
                    #expect(throws: Never.self) { try Samples.decode(prefix, dialect: dialect) }
                    continue
                }
                #expect(throws: WireError.self, "\(type) cut to \(length) bytes in \(dialect)") {
                    try Samples.decode(prefix, dialect: dialect)
                }
            }
        }
    }

    @Test("a prefix without its size patched is truncated")
    func unpatchedPrefix() {
        let bytes = Frame(tag: 1, message: TMessage.version(Tversion(msize: 8192, version: "9P2000"))).encode(dialect: .plan9)
        #expect(throws: WireError.truncated(needed: bytes.count, remaining: bytes.count - 1)) {
            try Frame<TMessage>.decode(Array(bytes.dropLast()), dialect: .plan9)
        }
        #expect(throws: WireError.truncated(needed: 7, remaining: 3)) {
            try Frame<TMessage>.decode(Array(bytes.prefix(3)), dialect: .plan9)
        }
    }

    @Test("a size field smaller than the buffer is inconsistent")
    func sizeTooSmall() {
        let bytes = Frame(tag: 1, message: TMessage.clunk(Tclunk(fid: 1))).encode(dialect: .plan9)
        #expect(throws: WireError.inconsistent("size field 10 but the frame has 11 bytes")) {
            try Frame<TMessage>.decode(bytes.withSize(10), dialect: .plan9)
        }
    }

    @Test("one extra byte is trailing", arguments: Dialect.allCases)
    func trailingByte(dialect: Dialect) {
        for (type, bytes) in Samples.frames(dialect) {
            let padded = (bytes + [0]).withSize(bytes.count + 1)
            #expect(throws: WireError.trailingBytes(1), "\(type) in \(dialect)") {
                try Samples.decode(padded, dialect: dialect)
            }
        }
    }

    @Test("more than 16 walk elements")
    func walkLimits() {
        let twalk = Frame(tag: 1, message: TMessage.walk(Twalk(fid: 1, newfid: 2, wnames: Array(repeating: "x", count: 17))))
        #expect(throws: WireError.limitExceeded(field: "nwname", value: 17, limit: 16)) {
            try Frame<TMessage>.decode(twalk.encode(dialect: .linux), dialect: .linux)
        }
        let rwalk = Frame(tag: 1, message: RMessage.walk(Rwalk(wqids: Array(repeating: Samples.qid, count: 17))))
        #expect(throws: WireError.limitExceeded(field: "nwqid", value: 17, limit: 16)) {
            try Frame<RMessage>.decode(rwalk.encode(dialect: .linux), dialect: .linux)
        }
        // A huge count with no names behind it fails on the limit, before anything is reserved.
        var huge = Frame(tag: 1, message: TMessage.walk(Twalk(fid: 1, newfid: 2, wnames: []))).encode(dialect: .linux)
        huge[15] = 0xFF
        huge[16] = 0xFF
        #expect(throws: WireError.limitExceeded(field: "nwname", value: 65535, limit: 16)) {
            try Frame<TMessage>.decode(huge, dialect: .linux)
        }
    }

    @Test("a string length beyond the frame")
    func stringTooLong() {
        var bytes = Frame(tag: 1, message: TMessage.version(Tversion(msize: 8192, version: "9P2000"))).encode(dialect: .plan9)
        bytes[11] = 0xFF  // version's length: 0x00FF
        #expect(throws: WireError.truncated(needed: 255, remaining: 6)) {
            try Frame<TMessage>.decode(bytes, dialect: .plan9)
        }
    }


    @Test("a payload count beyond the frame")
    func countTooLarge() {
        // Twrite: count at 7 + fid 4 + offset 8.
        var twrite = Frame(tag: 1, message: TMessage.write(Twrite(fid: 1, offset: 0, data: [1, 2, 3]))).encode(dialect: .linux)
        twrite[19] = 4
        #expect(throws: WireError.truncated(needed: 4, remaining: 3)) { try Frame<TMessage>.decode(twrite, dialect: .linux) }
        twrite[19...22] = [0xFF, 0xFF, 0xFF, 0xFF]
        #expect(throws: WireError.truncated(needed: Int(UInt32.max), remaining: 3)) {
            try Frame<TMessage>.decode(twrite, dialect: .linux)
        }
        // Rread and Rreaddir: count right after the header.
        for reply in [RMessage.read(Rread(data: [9, 9])), .readdir(Rreaddir(data: [9, 9]))] {
            var bytes = Frame(tag: 1, message: reply).encode(dialect: .linux)
            bytes[7...10] = [0x00, 0x00, 0x00, 0x80]
            #expect(throws: WireError.truncated(needed: 0x8000_0000, remaining: 2)) {
                try Frame<RMessage>.decode(bytes, dialect: .linux)
            }
        }
    }

    @Test("a stat whose sizes disagree")
    func statSizes() {
        let good = Frame(tag: 1, message: RMessage.stat(Rstat(stat: Samples.stat(.plan9)))).encode(dialect: .plan9)
        // n one larger than the stat (and the frame one byte longer to hold it).
        var longer = (good + [0]).withSize(good.count + 1)
        longer[7] &+= 1
        #expect(throws: WireError.self) { try Frame<RMessage>.decode(longer, dialect: .plan9) }
        // The stat's own size one larger than its fields, n and frame grown to match.
        var padded = (good + [0]).withSize(good.count + 1)
        padded[7] &+= 1
        padded[9] &+= 1
        #expect(throws: WireError.inconsistent("stat size \(Int(good[9]) + 1) leaves 1 bytes unused")) {
            try Frame<RMessage>.decode(padded, dialect: .plan9)
        }
        // A .u stat read as 9P2000: the extension fields are left over.
        let unix = Frame(tag: 1, message: RMessage.stat(Rstat(stat: Samples.stat(.unix)))).encode(dialect: .unix)
        #expect(throws: WireError.self) { try Frame<RMessage>.decode(unix, dialect: .plan9) }
        // A 9P2000 stat read as .u: the stat ends before the extension fields.
        #expect(throws: WireError.self) { try Frame<RMessage>.decode(good, dialect: .unix) }
    }

    @Test("messages in the wrong direction")
    func wrongDirection() {
        let request = Frame(tag: 1, message: TMessage.version(Tversion(msize: 8192, version: "9P2000"))).encode(dialect: .plan9)
        let reply = Frame(tag: 1, message: RMessage.version(Rversion(msize: 8192, version: "9P2000"))).encode(dialect: .plan9)
        #expect(throws: WireError.wrongDirection(100)) { try Frame<RMessage>.decode(request, dialect: .plan9) }
        #expect(throws: WireError.wrongDirection(101)) { try Frame<TMessage>.decode(reply, dialect: .plan9) }
    }

    @Test("messages outside the session's dialect")
    func wrongDialect() {
        let tlopen = Frame(tag: 1, message: TMessage.lopen(Tlopen(fid: 1, flags: 0))).encode(dialect: .linux)
        #expect(throws: WireError.unknownType(12)) { try Frame<TMessage>.decode(tlopen, dialect: .plan9) }
        #expect(throws: WireError.unknownType(12)) { try Frame<TMessage>.decode(tlopen, dialect: .unix) }
        let topen = Frame(tag: 1, message: TMessage.open(Topen(fid: 1, mode: 0))).encode(dialect: .plan9)
        #expect(throws: WireError.unknownType(112)) { try Frame<TMessage>.decode(topen, dialect: .linux) }
        let rlerror = Frame(tag: 1, message: RMessage.lerror(Rlerror(ecode: 5))).encode(dialect: .linux)
        #expect(throws: WireError.unknownType(7)) { try Frame<RMessage>.decode(rlerror, dialect: .plan9) }
    }

    @Test("unknown types", arguments: [UInt8(200), 0, 6, 106, 255])
    func unknownType(type: UInt8) {
        var bytes = Frame(tag: 1, message: TMessage.clunk(Tclunk(fid: 1))).encode(dialect: .linux)
        bytes[4] = type
        for dialect in Dialect.allCases {
            #expect(throws: WireError.unknownType(type)) { try Frame<TMessage>.decode(bytes, dialect: dialect) }
        }
    }

    @Test("random garbage never traps, and whatever decodes re-encodes to the same bytes")
    func garbage() {
        var random = SplitMix64(seed: 0x9_2000)
        let types = MessageType.allCases.map(\.rawValue)
        var decoded = 0
        for round in 0..<4000 {
            let length = 7 + Int(random.next() % 60)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if round % 8 != 0 { bytes = bytes.withSize(length) }
            if round % 4 != 0 { bytes[4] = types[Int(random.next() % UInt64(types.count))] }
            decoded += checkGarbage(bytes)
        }
        // Mutations of valid frames reach deeper into the bodies than random bytes do.
        let samples = Dialect.allCases.flatMap { Samples.frames($0).map(\.bytes) }
        for _ in 0..<4000 {
            var bytes = samples[Int(random.next() % UInt64(samples.count))]
            for _ in 0...(random.next() % 3) {
                let index = 4 + Int(random.next() % UInt64(bytes.count - 4))
                bytes[index] = UInt8(truncatingIfNeeded: random.next())
            }
            decoded += checkGarbage(bytes)
        }
        #expect(decoded > 0)
    }

    /// Decodes `bytes` both ways in every dialect; a frame that decodes must encode back to itself.
    func checkGarbage(_ bytes: [UInt8]) -> Int {
        var decoded = 0
        for dialect in Dialect.allCases {
            if let frame = try? Frame<TMessage>.decode(bytes, dialect: dialect) {
                #expect(frame.encode(dialect: dialect) == bytes)
                decoded += 1
            }
            if let frame = try? Frame<RMessage>.decode(bytes, dialect: dialect) {
                #expect(frame.encode(dialect: dialect) == bytes)
                decoded += 1
            }
        }
        return decoded
    }
}
