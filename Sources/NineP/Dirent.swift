/// One entry of a 9P2000.L directory read: qid[13] offset[8] type[1] name[s].
/// Rreaddir keeps its data as raw bytes (the gateway forwards it); this decodes it when needed.
public struct Dirent: Sendable, Hashable {
    public var qid: Qid
    /// The offset to pass to the next Treaddir to continue after this entry.
    public var offset: UInt64
    /// The d_type of the entry (DT_DIR …).
    public var type: UInt8
    public var name: WireString

    public init(qid: Qid, offset: UInt64, type: UInt8, name: WireString) {
        self.qid = qid
        self.offset = offset
        self.type = type
        self.name = name
    }

    public init(from reader: inout WireReader) throws(WireError) {
        qid = try Qid(from: &reader)
        offset = try reader.u64()
        type = try reader.u8()
        name = try reader.string()
    }

    public func encode(into writer: inout WireWriter) {
        qid.encode(into: &writer)
        writer.u64(offset)
        writer.u8(type)
        writer.string(name)
    }

    /// All entries of an Rreaddir's data; an entry cut short is an error.
    public static func decodeAll(_ data: UnsafeRawBufferPointer) throws(WireError) -> [Dirent] {
        var reader = WireReader(data)
        var entries: [Dirent] = []
        while reader.remaining > 0 {
            entries.append(try Dirent(from: &reader))
        }
        return entries
    }

    /// Checks that an Rreaddir's data is whole entries, without copying any out.
    public static func validateAll(_ data: UnsafeRawBufferPointer) throws(WireError) {
        var reader = WireReader(data)
        while reader.remaining > 0 {
            try reader.skip(22)  // qid[13] offset[8] type[1]
            try reader.skipString()
        }
    }

    public static func decodeAll(_ data: [UInt8]) throws(WireError) -> [Dirent] {
        try withBytes(of: data) { (raw) throws(WireError) -> [Dirent] in try decodeAll(raw) }
    }

    /// The data of an Rreaddir holding `entries`.
    public static func encodeAll(_ entries: [Dirent]) -> [UInt8] {
        var writer = WireWriter()
        for entry in entries { entry.encode(into: &writer) }
        return writer.bytes
    }
}
