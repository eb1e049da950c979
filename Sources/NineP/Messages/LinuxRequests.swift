// 9P2000.L requests: the Linux VFS operations diod, QEMU and v9fs speak.

/// Asks for the file system statistics (statfs(2)) of the file system `fid` is on.
/// Wire: fid[4].
public struct Tstatfs: FidBodyMessage {
    public static let messageType = MessageType.Tstatfs

    public var fid: UInt32

    public init(fid: UInt32) {
        self.fid = fid
    }
}

/// Opens `fid` with Linux open(2) flags.
/// Wire: fid[4] flags[4].
public struct Tlopen: WireMessage {
    public static let messageType = MessageType.Tlopen

    public var fid: UInt32
    public var flags: UInt32

    public init(fid: UInt32, flags: UInt32) {
        self.fid = fid
        self.flags = flags
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        flags = try reader.u32()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.u32(flags)
    }
}

/// Creates and opens `name` in the directory `fid`; `fid` then stands for the new file.
/// Wire: fid[4] name[s] flags[4] mode[4] gid[4].
public struct Tlcreate: WireMessage {
    public static let messageType = MessageType.Tlcreate

    public var fid: UInt32
    public var name: WireString
    public var flags: UInt32
    public var mode: UInt32
    public var gid: UInt32

    public init(fid: UInt32, name: WireString, flags: UInt32, mode: UInt32, gid: UInt32) {
        self.fid = fid
        self.name = name
        self.flags = flags
        self.mode = mode
        self.gid = gid
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        name = try reader.string()
        flags = try reader.u32()
        mode = try reader.u32()
        gid = try reader.u32()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.string(name)
        writer.u32(flags)
        writer.u32(mode)
        writer.u32(gid)
    }
}

/// Creates the symlink `name` → `symtgt` in the directory `fid`.
/// Wire: fid[4] name[s] symtgt[s] gid[4].
public struct Tsymlink: WireMessage {
    public static let messageType = MessageType.Tsymlink

    public var fid: UInt32
    public var name: WireString
    public var symtgt: WireString
    public var gid: UInt32

    public init(fid: UInt32, name: WireString, symtgt: WireString, gid: UInt32) {
        self.fid = fid
        self.name = name
        self.symtgt = symtgt
        self.gid = gid
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        name = try reader.string()
        symtgt = try reader.string()
        gid = try reader.u32()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.string(name)
        writer.string(symtgt)
        writer.u32(gid)
    }
}

/// Creates a device node, fifo or socket `name` in the directory `dfid`.
/// Wire: dfid[4] name[s] mode[4] major[4] minor[4] gid[4].
public struct Tmknod: WireMessage {
    public static let messageType = MessageType.Tmknod

    public var dfid: UInt32
    public var name: WireString
    public var mode: UInt32
    public var major: UInt32
    public var minor: UInt32
    public var gid: UInt32

    public init(dfid: UInt32, name: WireString, mode: UInt32, major: UInt32, minor: UInt32, gid: UInt32) {
        self.dfid = dfid
        self.name = name
        self.mode = mode
        self.major = major
        self.minor = minor
        self.gid = gid
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        dfid = try reader.u32()
        name = try reader.string()
        mode = try reader.u32()
        major = try reader.u32()
        minor = try reader.u32()
        gid = try reader.u32()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(dfid)
        writer.string(name)
        writer.u32(mode)
        writer.u32(major)
        writer.u32(minor)
        writer.u32(gid)
    }
}

/// Moves `fid`'s file to `name` in the directory `dfid`.
/// Wire: fid[4] dfid[4] name[s].
public struct Trename: WireMessage {
    public static let messageType = MessageType.Trename

    public var fid: UInt32
    public var dfid: UInt32
    public var name: WireString

    public init(fid: UInt32, dfid: UInt32, name: WireString) {
        self.fid = fid
        self.dfid = dfid
        self.name = name
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        dfid = try reader.u32()
        name = try reader.string()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.u32(dfid)
        writer.string(name)
    }
}

/// Asks for the target of the symlink `fid`.
/// Wire: fid[4].
public struct Treadlink: FidBodyMessage {
    public static let messageType = MessageType.Treadlink

    public var fid: UInt32

    public init(fid: UInt32) {
        self.fid = fid
    }
}

/// Asks for the attributes in `requestMask` (P9_GETATTR_* bits) of `fid`'s file.
/// Wire: fid[4] request_mask[8].
public struct Tgetattr: WireMessage {
    public static let messageType = MessageType.Tgetattr

    public var fid: UInt32
    public var requestMask: UInt64

    public init(fid: UInt32, requestMask: UInt64) {
        self.fid = fid
        self.requestMask = requestMask
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        requestMask = try reader.u64()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.u64(requestMask)
    }
}

/// Sets the attributes selected by `valid` (P9_SETATTR_* bits) of `fid`'s file.
/// Wire: fid[4] valid[4] mode[4] uid[4] gid[4] size[8] atime_sec[8] atime_nsec[8] mtime_sec[8]
///     mtime_nsec[8].
public struct Tsetattr: WireMessage {
    public static let messageType = MessageType.Tsetattr

    public var fid: UInt32
    public var valid: UInt32
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    public var atimeSec: UInt64
    public var atimeNsec: UInt64
    public var mtimeSec: UInt64
    public var mtimeNsec: UInt64

    public init(
        fid: UInt32, valid: UInt32, mode: UInt32, uid: UInt32, gid: UInt32, size: UInt64,
        atimeSec: UInt64, atimeNsec: UInt64, mtimeSec: UInt64, mtimeNsec: UInt64
    ) {
        self.fid = fid
        self.valid = valid
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.atimeSec = atimeSec
        self.atimeNsec = atimeNsec
        self.mtimeSec = mtimeSec
        self.mtimeNsec = mtimeNsec
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        valid = try reader.u32()
        mode = try reader.u32()
        uid = try reader.u32()
        gid = try reader.u32()
        size = try reader.u64()
        atimeSec = try reader.u64()
        atimeNsec = try reader.u64()
        mtimeSec = try reader.u64()
        mtimeNsec = try reader.u64()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.u32(valid)
        writer.u32(mode)
        writer.u32(uid)
        writer.u32(gid)
        writer.u64(size)
        writer.u64(atimeSec)
        writer.u64(atimeNsec)
        writer.u64(mtimeSec)
        writer.u64(mtimeNsec)
    }
}

/// Binds `newfid` to the extended attribute `name` of `fid`'s file (or the list of names when empty),
/// to be read like a file.
/// Wire: fid[4] newfid[4] name[s].
public struct Txattrwalk: WireMessage {
    public static let messageType = MessageType.Txattrwalk

    public var fid: UInt32
    public var newfid: UInt32
    public var name: WireString

    public init(fid: UInt32, newfid: UInt32, name: WireString) {
        self.fid = fid
        self.newfid = newfid
        self.name = name
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        newfid = try reader.u32()
        name = try reader.string()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.u32(newfid)
        writer.string(name)
    }
}

/// Turns `fid` into a handle for writing the extended attribute `name`, set at clunk.
/// Wire: fid[4] name[s] attr_size[8] flags[4].
public struct Txattrcreate: WireMessage {
    public static let messageType = MessageType.Txattrcreate

    public var fid: UInt32
    public var name: WireString
    public var attrSize: UInt64
    public var flags: UInt32

    public init(fid: UInt32, name: WireString, attrSize: UInt64, flags: UInt32) {
        self.fid = fid
        self.name = name
        self.attrSize = attrSize
        self.flags = flags
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        name = try reader.string()
        attrSize = try reader.u64()
        flags = try reader.u32()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.string(name)
        writer.u64(attrSize)
        writer.u32(flags)
    }
}

/// Reads directory entries from `offset` (a cookie from a previous Dirent), up to `count` bytes.
/// Wire: fid[4] offset[8] count[4].
public struct Treaddir: WireMessage {
    public static let messageType = MessageType.Treaddir

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

/// Flushes `fid`'s file to stable storage.
/// Linux sends `datasync`; older clients send only the fid, so it is optional.
/// Wire: fid[4] (datasync[4], optional).
public struct Tfsync: WireMessage {
    public static let messageType = MessageType.Tfsync

    public var fid: UInt32
    /// Non-zero: fdatasync(2). nil when the client did not send the field.
    public var datasync: UInt32?

    public init(fid: UInt32, datasync: UInt32? = nil) {
        self.fid = fid
        self.datasync = datasync
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        datasync = try reader.remaining >= 4 ? reader.u32() : nil
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        if let datasync {
            writer.u32(datasync)
        }
    }
}

/// Takes or releases a POSIX record lock (F_SETLK/F_SETLKW) on `fid`'s file.
/// Wire: fid[4] type[1] flags[4] start[8] length[8] proc_id[4] client_id[s].
public struct Tlock: WireMessage {
    public static let messageType = MessageType.Tlock

    public var fid: UInt32
    public var type: UInt8
    public var flags: UInt32
    public var start: UInt64
    public var length: UInt64
    public var procID: UInt32
    public var clientID: WireString

    public init(
        fid: UInt32, type: UInt8, flags: UInt32, start: UInt64, length: UInt64, procID: UInt32,
        clientID: WireString
    ) {
        self.fid = fid
        self.type = type
        self.flags = flags
        self.start = start
        self.length = length
        self.procID = procID
        self.clientID = clientID
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        type = try reader.u8()
        flags = try reader.u32()
        start = try reader.u64()
        length = try reader.u64()
        procID = try reader.u32()
        clientID = try reader.string()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.u8(type)
        writer.u32(flags)
        writer.u64(start)
        writer.u64(length)
        writer.u32(procID)
        writer.string(clientID)
    }
}

/// Tests for a conflicting POSIX record lock (F_GETLK) on `fid`'s file.
/// Wire: fid[4] type[1] start[8] length[8] proc_id[4] client_id[s].
public struct Tgetlock: WireMessage {
    public static let messageType = MessageType.Tgetlock

    public var fid: UInt32
    public var type: UInt8
    public var start: UInt64
    public var length: UInt64
    public var procID: UInt32
    public var clientID: WireString

    public init(fid: UInt32, type: UInt8, start: UInt64, length: UInt64, procID: UInt32, clientID: WireString) {
        self.fid = fid
        self.type = type
        self.start = start
        self.length = length
        self.procID = procID
        self.clientID = clientID
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        type = try reader.u8()
        start = try reader.u64()
        length = try reader.u64()
        procID = try reader.u32()
        clientID = try reader.string()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.u8(type)
        writer.u64(start)
        writer.u64(length)
        writer.u32(procID)
        writer.string(clientID)
    }
}

/// Creates the hard link `name` in the directory `dfid` to `fid`'s file.
/// Wire: dfid[4] fid[4] name[s].
public struct Tlink: WireMessage {
    public static let messageType = MessageType.Tlink

    public var dfid: UInt32
    public var fid: UInt32
    public var name: WireString

    public init(dfid: UInt32, fid: UInt32, name: WireString) {
        self.dfid = dfid
        self.fid = fid
        self.name = name
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        dfid = try reader.u32()
        fid = try reader.u32()
        name = try reader.string()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(dfid)
        writer.u32(fid)
        writer.string(name)
    }
}

/// Creates the directory `name` in the directory `dfid`.
/// Wire: dfid[4] name[s] mode[4] gid[4].
public struct Tmkdir: WireMessage {
    public static let messageType = MessageType.Tmkdir

    public var dfid: UInt32
    public var name: WireString
    public var mode: UInt32
    public var gid: UInt32

    public init(dfid: UInt32, name: WireString, mode: UInt32, gid: UInt32) {
        self.dfid = dfid
        self.name = name
        self.mode = mode
        self.gid = gid
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        dfid = try reader.u32()
        name = try reader.string()
        mode = try reader.u32()
        gid = try reader.u32()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(dfid)
        writer.string(name)
        writer.u32(mode)
        writer.u32(gid)
    }
}

/// Renames `oldname` in the directory `olddirfid` to `newname` in `newdirfid`.
/// Wire: olddirfid[4] oldname[s] newdirfid[4] newname[s].
public struct Trenameat: WireMessage {
    public static let messageType = MessageType.Trenameat

    public var olddirfid: UInt32
    public var oldname: WireString
    public var newdirfid: UInt32
    public var newname: WireString

    public init(olddirfid: UInt32, oldname: WireString, newdirfid: UInt32, newname: WireString) {
        self.olddirfid = olddirfid
        self.oldname = oldname
        self.newdirfid = newdirfid
        self.newname = newname
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        olddirfid = try reader.u32()
        oldname = try reader.string()
        newdirfid = try reader.u32()
        newname = try reader.string()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(olddirfid)
        writer.string(oldname)
        writer.u32(newdirfid)
        writer.string(newname)
    }
}

/// Removes `name` from the directory `dirfd` (AT_REMOVEDIR in `flags` for directories).
/// Wire: dirfd[4] name[s] flags[4].
public struct Tunlinkat: WireMessage {
    public static let messageType = MessageType.Tunlinkat

    public var dirfd: UInt32
    public var name: WireString
    public var flags: UInt32

    public init(dirfd: UInt32, name: WireString, flags: UInt32) {
        self.dirfd = dirfd
        self.name = name
        self.flags = flags
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        dirfd = try reader.u32()
        name = try reader.string()
        flags = try reader.u32()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(dirfd)
        writer.string(name)
        writer.u32(flags)
    }
}
