import Foundation
import NineP
import Testing

/// Frames that real clients and servers sent each other (Tests/NinePTests/Corpus/real-frames.txt,
/// recorded by scripts/record-frames): ground truth the codec did not write itself. A field-order
/// bug mirrored in encoder and decoder passes every round trip, but not these.
@Suite("Real peers' frames")
struct RealFrameTests {
    /// One frame of the corpus and where it came from.
    struct Entry: CustomStringConvertible {
        let line: Int
        /// The session's dialect; nil for a version exchange naming one the codec does not speak.
        let dialect: Dialect?
        let source: String
        let bytes: [UInt8]
        /// Why a peer's frame is invalid in its dialect (a `malformed` line), or nil.
        let malformed: String?

        var type: MessageType? { bytes.count > 4 ? MessageType(rawValue: bytes[4]) : nil }
        var description: String { "line \(line) (\(source), \(dialect?.rawValue ?? "?"), \(type.map { "\($0)" } ?? "type ?"))" }
    }

    static let corpusURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Corpus/real-frames.txt")

    /// The corpus, parsed; a line that does not parse is a test failure, not a skipped line.
    static func load() throws -> (entries: [Entry], sources: Set<String>) {
        let text = try String(contentsOf: corpusURL, encoding: .utf8)
        var entries: [Entry] = []
        var sources = Set<String>()
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            var words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if words.first == "source" {
                guard words.count >= 3, words[1].hasSuffix(":") else { throw CorpusError(line: index + 1, "bad source line") }
                sources.insert(String(words[1].dropLast()))
                continue
            }
            var malformed: String?
            if words.first == "malformed" {
                words.removeFirst()
                guard let hash = line.range(of: " # ") else { throw CorpusError(line: index + 1, "malformed line without '# reason'") }
                malformed = String(line[hash.upperBound...])
                words = Array(words.prefix(3))
            }
            guard words.count == 3, let bytes = Self.bytes(hex: words[2]) else {
                throw CorpusError(line: index + 1, "expected DIALECT SOURCE HEX")
            }
            entries.append(Entry(line: index + 1, dialect: Dialect(rawValue: words[0]), source: words[1], bytes: bytes, malformed: malformed))
        }
        return (entries, sources)
    }

    struct CorpusError: Error, CustomStringConvertible {
        let description: String
        init(line: Int, _ problem: String) { description = "real-frames.txt line \(line): \(problem)" }
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = Self.nibble(digits[index]), let low = Self.nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    /// Decodes `entry` in `dialect` and re-encodes it; throws when it does not decode.
    static func reencoded(_ entry: Entry, dialect: Dialect) throws -> [UInt8] {
        if entry.type?.isRequest == true {
            return try Frame<TMessage>.decode(entry.bytes, dialect: dialect).encode(dialect: dialect)
        }
        return try Frame<RMessage>.decode(entry.bytes, dialect: dialect).encode(dialect: dialect)
    }

    /// The dialects to read `entry` in: its own, or all three for a version exchange in a
    /// dialect the codec does not speak (its messages are the same in every dialect).
    static func dialects(of entry: Entry) -> [Dialect] {
        if let dialect = entry.dialect { return [dialect] }
        return entry.type == .Tversion || entry.type == .Rversion ? Dialect.allCases : []
    }

    @Test("the corpus parses, names its sources, and every frame's size field is its length")
    func corpusIsWellFormed() throws {
        let (entries, sources) = try Self.load()
        #expect(entries.count > 100, "only \(entries.count) frames")
        for entry in entries {
            #expect(sources.contains(entry.source), "\(entry): no 'source \(entry.source):' line")
            #expect(!Self.dialects(of: entry).isEmpty, "\(entry): a dialect the codec does not speak")
            let size = entry.bytes.count >= 4
                ? Int(entry.bytes[0]) | Int(entry.bytes[1]) << 8 | Int(entry.bytes[2]) << 16 | Int(entry.bytes[3]) << 24 : -1
            #expect(size == entry.bytes.count, "\(entry): size field \(size), \(entry.bytes.count) bytes")
        }
    }

    @Test("every frame a real peer sent decodes in its dialect and re-encodes to exactly its bytes")
    func decodeAndReencode() throws {
        for entry in try Self.load().entries where entry.malformed == nil {
            for dialect in Self.dialects(of: entry) {
                do {
                    let again = try Self.reencoded(entry, dialect: dialect)
                    #expect(again == entry.bytes, "\(entry) re-encoded differently in \(dialect)")
                } catch {
                    Issue.record("\(entry) does not decode in \(dialect): \(error)")
                }
            }
        }
    }

    @Test("frames a peer got wrong for its dialect are refused, not read as something else")
    func malformedAreRefused() throws {
        for entry in try Self.load().entries {
            guard let reason = entry.malformed, let dialect = entry.dialect else { continue }
            #expect(throws: WireError.self, "\(entry) (\(reason)) decoded") { try Self.reencoded(entry, dialect: dialect) }
        }
    }

    @Test("the fid layout table finds each real request's fids where the decoder reads them")
    func fidLayoutMatchesRealRequests() throws {
        for entry in try Self.load().entries where entry.malformed == nil && entry.type?.isRequest == true {
            guard let dialect = entry.dialect, let type = entry.type else { continue }
            let decoded = try Frame<TMessage>.decode(entry.bytes, dialect: dialect).message
            let located = try entry.bytes.withUnsafeBytes { raw in
                try type.info.locateFids(in: raw).map { (name: $0.name, value: FramePatch.u32(at: $0.offset, in: raw)) }
            }
            #expect(located.map(\.name) == decoded.fids.map(\.name), "\(entry)")
            #expect(located.map(\.value) == decoded.fids.map(\.value), "\(entry)")
        }
    }

    /// Re-encoding the same bytes cannot catch two same-sized fields swapped in both encoder and
    /// decoder; the values the recorded workloads put on the wire can. Each check names what the
    /// workload did (see the corpus's source lines) and the decoded message it must have sent.
    @Test("decoded real frames carry the values their workload put there (mirrored field-order bugs show here)")
    func workloadValues() throws {
        let entries = try Self.load().entries.filter { $0.malformed == nil }
        func requests(_ dialect: Dialect) throws -> [TMessage] {
            try entries.filter { $0.dialect == dialect && $0.type?.isRequest == true }
                .map { try Frame<TMessage>.decode($0.bytes, dialect: dialect).message }
        }
        func replies(_ dialect: Dialect) throws -> [RMessage] {
            try entries.filter { $0.dialect == dialect && $0.type?.isRequest == false }
                .map { try Frame<RMessage>.decode($0.bytes, dialect: dialect).message }
        }
        let linux = try requests(.linux), linuxReplies = try replies(.linux)
        let checks: [(String, Bool)] = [
            ("chown 1234:5678 (v9fs): Tsetattr with uid 1234, gid 5678", linux.contains {
                if case let .setattr(m) = $0 { m.uid == 1234 && m.gid == 5678 && m.valid & 0x6 == 0x6 } else { false } }),
            ("touch -d 2001-02-03 04:05:06 (v9fs): Tsetattr with atime and mtime 981173106", linux.contains {
                if case let .setattr(m) = $0 { m.mtimeSec == 981_173_106 && m.atimeSec == 981_173_106 && m.mtimeNsec == 0 } else { false } }),
            ("ln -s b l (v9fs): Tsymlink name l, target b", linux.contains {
                if case let .symlink(m) = $0 { m.name == "l" && m.symtgt == "b" } else { false } }),
            ("mknod bdev b 7 0 (v9fs): Tmknod of a block device 7:0", linux.contains {
                if case let .mknod(m) = $0 { m.name == "bdev" && m.mode & 0o170000 == 0o060000 && m.major == 7 && m.minor == 0 } else { false } }),
            ("ln b h (v9fs): Tlink name h", linux.contains {
                if case let .link(m) = $0 { m.name == "h" && m.dfid != m.fid } else { false } }),
            ("mv a b (v9fs): Trenameat a to b", linux.contains {
                if case let .renameat(m) = $0 { m.oldname == "a" && m.newname == "b" } else { false } }),
            ("rmdir (v9fs): Tunlinkat with AT_REMOVEDIR", linux.contains {
                if case let .unlinkat(m) = $0 { m.flags == 0x200 } else { false } }),
            ("a byte-range lock at 200, length 50 (v9fs): Tlock", linux.contains {
                if case let .lock(m) = $0 { m.start == 200 && m.length == 50 && m.clientID == "(none)" } else { false } }),
            ("F_GETLK over 0..100 (v9fs): Tgetlock", linux.contains {
                if case let .getlock(m) = $0 { m.start == 0 && m.length == 100 } else { false } }),
            ("a write lock of 10 bytes by proc 4242 (handmade): Tlock", linux.contains {
                if case let .lock(m) = $0 { m.type == 1 && m.length == 10 && m.procID == 4242 && m.clientID == "pebble" } else { false } }),
            ("diod's answer to that client's Tgetlock: Rgetlock F_UNLCK for proc 4242", linuxReplies.contains {
                if case let .getlock(m) = $0 { m.type == 2 && m.procID == 4242 && m.clientID == "pebble" } else { false } }),
            ("diod's Rgetattr of that block device: mode S_IFBLK, rdev 7:0", linuxReplies.contains {
                if case let .getattr(m) = $0 { m.mode & 0o170000 == 0o060000 && m.rdev == 7 << 8 } else { false } }),
            ("diod's Rreadlink of the long symlink (v9fs)", linuxReplies.contains {
                if case let .readlink(m) = $0 { m.target == "/a/rather/long/absolute/target/path" } else { false } }),
            ("diod's Rstatfs: 4096-byte blocks, names up to 255", linuxReplies.contains {
                if case let .statfs(m) = $0 { m.bsize == 4096 && m.namelen == 255 && m.blocks >= m.bfree && m.bfree >= m.bavail } else { false } }),
            ("aio9p's Rstat of the symlink l (v9fs .u): DMSYMLINK, extension b", try replies(.unix).contains {
                if case let .stat(m) = $0 { m.stat.name == "l" && m.stat.mode & 0x0200_0000 != 0 && m.stat.extension == "b" } else { false } }),
        ]
        for (label, found) in checks { #expect(found, "no real frame for: \(label)") }
    }

    /// Every message type of each dialect is in the corpus, except those no peer here sends
    /// (`sentByNoPeerHere`): a re-recording that loses a type fails here, and so does one that
    /// gains a type this list still names.
    @Test("every message type of every dialect that a real peer here sends is in the corpus", arguments: Dialect.allCases)
    func coverage(dialect: Dialect) throws {
        let present = Set(try Self.load().entries.filter { $0.dialect == dialect && $0.malformed == nil }.compactMap(\.type))
        let inDialect = MessageType.allCases.filter { $0.info.dialects.contains(dialect) }
        let absent = Self.sentByNoPeerHere[dialect, default: []]
        let missing = inDialect.filter { !present.contains($0) && !absent.contains($0) }
        #expect(missing.isEmpty, "no real \(dialect) frame of \(missing)")
        #expect(absent.isDisjoint(with: present), "now recorded, drop from sentByNoPeerHere: \(absent.intersection(present))")
    }

    /// No server here does 9P2000/.u auth; diod answers Trenameat and Tunlinkat EOPNOTSUPP (so
    /// neither reply exists; nfs-ganesha has them but cannot run in CI, see INTEROP.md).
    static let sentByNoPeerHere: [Dialect: Set<MessageType>] = [
        .plan9: [.Rauth],
        .unix: [.Rauth],
        .linux: [.Rrenameat, .Runlinkat],
    ]
}
