// 9P2000 requests for files (Topen, Tcreate, Tstat and Twstat are not part of 9P2000.L).

/// Walks `fid` through `wnames` (at most 16) and, if every step succeeds, binds the result to `newfid`.
/// No names clones the fid.
/// Wire: fid[4] newfid[4] nwname[2] nwname*wname[s].
public struct Twalk: WireMessage {
    public static let messageType = MessageType.Twalk

    public var fid: UInt32
    public var newfid: UInt32
    public var wnames: [WireString]

    public init(fid: UInt32, newfid: UInt32, wnames: [WireString]) {
        self.fid = fid
        self.newfid = newfid
        self.wnames = wnames
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        newfid = try reader.u32()
        let count = try reader.count16(field: "nwname", limit: NineP.maxWalkElements)
        var wnames: [WireString] = []
        wnames.reserveCapacity(count)
        for _ in 0..<count { wnames.append(try reader.string()) }
        self.wnames = wnames
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.u32(newfid)
        writer.u16(UInt16(truncatingIfNeeded: wnames.count))
        for name in wnames { writer.string(name) }
    }
}

/// Opens `fid` for I/O with a Plan 9 open mode (OREAD … OTRUNC, ORCLOSE).
/// Wire: fid[4] mode[1].
public struct Topen: WireMessage {
    public static let messageType = MessageType.Topen

    public var fid: UInt32
    public var mode: UInt8

    public init(fid: UInt32, mode: UInt8) {
        self.fid = fid
        self.mode = mode
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        mode = try reader.u8()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.u8(mode)
    }
}

/// Creates `name` in the directory `fid` and opens it; `fid` then stands for the new file.
/// Wire: fid[4] name[s] perm[4] mode[1] (extension[s] in .u).
public struct Tcreate: WireMessage {
    public static let messageType = MessageType.Tcreate

    public var fid: UInt32
    public var name: WireString
    public var perm: UInt32
    public var mode: UInt8
    /// 9P2000.u: symlink target or device spec for special files; empty otherwise.
    public var `extension`: WireString

    public init(fid: UInt32, name: WireString, perm: UInt32, mode: UInt8, extension: WireString = "") {
        self.fid = fid
        self.name = name
        self.perm = perm
        self.mode = mode
        self.extension = `extension`
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        name = try reader.string()
        perm = try reader.u32()
        mode = try reader.u8()
        `extension` = try dialect.hasUnixExtensions ? reader.string() : ""
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.string(name)
        writer.u32(perm)
        writer.u8(mode)
        if dialect.hasUnixExtensions {
            writer.string(`extension`)
        }
    }
}

/// Reads up to `count` bytes at `offset` (or directory entries as stats).
/// Wire: fid[4] offset[8] count[4].
public struct Tread: WireMessage {
    public static let messageType = MessageType.Tread

    public var fid: UInt32
    public var offset: UInt64
    public var count: UInt32

    public init(fid: UInt32, offset: UInt64, count: UInt32) {
        self.fid = fid
        self.offset = offset
        self.count = count
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        offset = try reader.u64()
        count = try reader.u32()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.u64(offset)
        writer.u32(count)
    }
}

/// Writes `data` at `offset`. The gateway forwards this payload without decoding it.
/// Wire: fid[4] offset[8] count[4] data[count].
public struct Twrite: WireMessage {
    public static let messageType = MessageType.Twrite

    public var fid: UInt32
    public var offset: UInt64
    public var data: [UInt8]

    public init(fid: UInt32, offset: UInt64, data: [UInt8]) {
        self.fid = fid
        self.offset = offset
        self.data = data
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        offset = try reader.u64()
        let count = try reader.u32()
        data = try reader.data(count: count)
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.u64(offset)
        writer.u32(UInt32(truncatingIfNeeded: data.count))
        writer.raw(data)
    }
}

/// Forgets `fid`; the fid is gone whatever the reply says.
/// Wire: fid[4].
public struct Tclunk: FidBodyMessage {
    public static let messageType = MessageType.Tclunk

    public var fid: UInt32

    public init(fid: UInt32) {
        self.fid = fid
    }
}

/// Removes the file `fid` stands for and forgets `fid`, even when the removal fails.
/// Wire: fid[4].
public struct Tremove: FidBodyMessage {
    public static let messageType = MessageType.Tremove

    public var fid: UInt32

    public init(fid: UInt32) {
        self.fid = fid
    }
}

/// Asks for the stat of `fid`'s file.
/// Wire: fid[4].
public struct Tstat: FidBodyMessage {
    public static let messageType = MessageType.Tstat

    public var fid: UInt32

    public init(fid: UInt32) {
        self.fid = fid
    }
}

/// Changes the stat fields of `fid`'s file that are not "don't touch" (~0 or empty).
/// Wire: fid[4] n[2] stat[n].
public struct Twstat: WireMessage {
    public static let messageType = MessageType.Twstat

    public var fid: UInt32
    public var stat: Stat

    public init(fid: UInt32, stat: Stat) {
        self.fid = fid
        self.stat = stat
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        stat = try Stat(sized: &reader, dialect: dialect)
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        stat.encodeSized(into: &writer, dialect: dialect)
    }
}
