/// A 9P2000 directory entry (Rstat, Twstat, directory reads in 9P2000 and .u).
/// size[2] type[2] dev[4] qid[13] mode[4] atime[4] mtime[4] length[8] name[s] uid[s] gid[s] muid[s],
/// and in 9P2000.u also extension[s] n_uid[4] n_gid[4] n_muid[4].
/// The .u fields are always present here; they are on the wire only when the dialect has them,
/// and decode to "" / `NineP.noUid` when it does not.
public struct Stat: Sendable, Hashable {
    /// For kernel use (Plan 9 device type).
    public var type: UInt16
    public var dev: UInt32
    public var qid: Qid
    /// Permissions and the DM* bits (DMDIR …).
    public var mode: UInt32
    public var atime: UInt32
    public var mtime: UInt32
    public var length: UInt64
    public var name: WireString
    public var uid: WireString
    public var gid: WireString
    public var muid: WireString
    /// 9P2000.u: symlink target, device description … (empty otherwise).
    public var `extension`: WireString
    /// 9P2000.u numeric ids.
    public var nUid: UInt32
    public var nGid: UInt32
    public var nMuid: UInt32

    public init(
        type: UInt16 = 0, dev: UInt32 = 0, qid: Qid, mode: UInt32, atime: UInt32, mtime: UInt32,
        length: UInt64, name: WireString, uid: WireString, gid: WireString, muid: WireString,
        extension: WireString = "", nUid: UInt32 = NineP.noUid, nGid: UInt32 = NineP.noUid,
        nMuid: UInt32 = NineP.noUid
    ) {
        self.type = type
        self.dev = dev
        self.qid = qid
        self.mode = mode
        self.atime = atime
        self.mtime = mtime
        self.length = length
        self.name = name
        self.uid = uid
        self.gid = gid
        self.muid = muid
        self.extension = `extension`
        self.nUid = nUid
        self.nGid = nGid
        self.nMuid = nMuid
    }

    /// Reads one stat, starting at its size[2] field. The size must cover exactly the fields read.
    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        let size = Int(try reader.u16())
        var inner = try reader.subReader(size)
        type = try inner.u16()
        dev = try inner.u32()
        qid = try Qid(from: &inner)
        mode = try inner.u32()
        atime = try inner.u32()
        mtime = try inner.u32()
        length = try inner.u64()
        name = try inner.string()
        uid = try inner.string()
        gid = try inner.string()
        muid = try inner.string()
        if dialect.hasUnixExtensions {
            `extension` = try inner.string()
            nUid = try inner.u32()
            nGid = try inner.u32()
            nMuid = try inner.u32()
        } else {
            `extension` = ""
            nUid = NineP.noUid
            nGid = NineP.noUid
            nMuid = NineP.noUid
        }
        guard inner.remaining == 0 else {
            throw .inconsistent("stat size \(size) leaves \(inner.remaining) bytes unused")
        }
    }

    /// Writes the stat with its own size[2] field first.
    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        let start = writer.bytes.count
        writer.u16(0)
        writer.u16(type)
        writer.u32(dev)
        qid.encode(into: &writer)
        writer.u32(mode)
        writer.u32(atime)
        writer.u32(mtime)
        writer.u64(length)
        writer.string(name)
        writer.string(uid)
        writer.string(gid)
        writer.string(muid)
        if dialect.hasUnixExtensions {
            writer.string(`extension`)
            writer.u32(nUid)
            writer.u32(nGid)
            writer.u32(nMuid)
        }
        // A stat over 64 KiB cannot be described; truncating (not trapping) makes the peer reject it.
        writer.patchU16(at: start, UInt16(truncatingIfNeeded: writer.bytes.count &- start &- 2))
    }

    /// Reads the n[2] stat[n] of Rstat and Twstat: n counts the stat including its own size field,
    /// so n must equal the stat's size + 2.
    public init(sized reader: inout WireReader, dialect: Dialect) throws(WireError) {
        let count = Int(try reader.u16())
        var inner = try reader.subReader(count)
        var probe = inner
        let size = Int(try probe.u16())
        guard size &+ 2 == count else {
            throw .inconsistent("stat size \(size) + 2 differs from its length field \(count)")
        }
        try self.init(from: &inner, dialect: dialect)
    }

    /// Writes n[2] stat[n], as Rstat and Twstat carry it.
    public func encodeSized(into writer: inout WireWriter, dialect: Dialect) {
        let start = writer.bytes.count
        writer.u16(0)
        encode(into: &writer, dialect: dialect)
        writer.patchU16(at: start, UInt16(truncatingIfNeeded: writer.bytes.count &- start &- 2))
    }

    /// The stats of a 9P2000 directory read (Rread data of a directory fid), back to back.
    public static func decodeDirectory(_ data: UnsafeRawBufferPointer, dialect: Dialect) throws(WireError) -> [Stat] {
        var reader = WireReader(data)
        var stats: [Stat] = []
        while reader.remaining > 0 {
            stats.append(try Stat(from: &reader, dialect: dialect))
        }
        return stats
    }

    /// Checks that a directory read's data is whole stats in `dialect`, without copying any out:
    /// each size covers exactly its fields, as `init(from:dialect:)` requires.
    public static func validateDirectory(_ data: UnsafeRawBufferPointer, dialect: Dialect) throws(WireError) {
        var reader = WireReader(data)
        while reader.remaining > 0 {
            let size = Int(try reader.u16())
            var inner = try reader.subReader(size)
            try inner.skip(39)  // type[2] dev[4] qid[13] mode[4] atime[4] mtime[4] length[8]
            for _ in 0..<4 { try inner.skipString() }  // name uid gid muid
            if dialect.hasUnixExtensions {
                try inner.skipString()  // extension
                try inner.skip(12)  // n_uid n_gid n_muid
            }
            guard inner.remaining == 0 else {
                throw .inconsistent("stat size \(size) leaves \(inner.remaining) bytes unused")
            }
        }
    }

    public static func decodeDirectory(_ data: [UInt8], dialect: Dialect) throws(WireError) -> [Stat] {
        try withBytes(of: data) { (raw) throws(WireError) -> [Stat] in try decodeDirectory(raw, dialect: dialect) }
    }
}

extension Stat {
    /// A Twstat's stat that changes nothing (every field "don't touch", wstat(5)) but `length`:
    /// with the default, a request to commit the file to stable storage.
    public static func unchanged(length: UInt64 = .max) -> Stat {
        Stat(type: .max, dev: .max, qid: Qid(type: .max, version: .max, path: .max), mode: .max, atime: .max, mtime: .max,
             length: length, name: "", uid: "", gid: "", muid: "", extension: "", nUid: .max, nGid: .max, nMuid: .max)
    }

    /// Whether a Twstat with this stat would change nothing but (maybe) the length.
    public var changesOnlyLength: Bool {
        var other = self
        other.length = .max
        return other == Self.unchanged()
    }
}
