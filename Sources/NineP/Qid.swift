/// The server's identity of a file: type[1] version[4] path[8], 13 bytes on the wire.
/// Two fids name the same file exactly when their qids' paths are equal.
public struct Qid: Sendable, Hashable {
    /// The file's kind, as bits (`Qid.directory`, `Qid.symlink` …).
    public var type: UInt8
    /// Changes whenever the file does (not every server keeps it).
    public var version: UInt32
    /// Unique per file on the server.
    public var path: UInt64

    public init(type: UInt8, version: UInt32, path: UInt64) {
        self.type = type
        self.version = version
        self.path = path
    }

    // Bits of `type`, from the spec (QTDIR …).
    public static let directory: UInt8 = 0x80
    public static let appendOnly: UInt8 = 0x40
    public static let exclusive: UInt8 = 0x20
    public static let mount: UInt8 = 0x10
    public static let auth: UInt8 = 0x08
    public static let temporary: UInt8 = 0x04
    public static let symlink: UInt8 = 0x02
    public static let link: UInt8 = 0x01

    public var isDirectory: Bool { type & Self.directory != 0 }

    public init(from reader: inout WireReader) throws(WireError) {
        type = try reader.u8()
        version = try reader.u32()
        path = try reader.u64()
    }

    public func encode(into writer: inout WireWriter) {
        writer.u8(type)
        writer.u32(version)
        writer.u64(path)
    }
}
