// Replies to the 9P2000.L requests.

/// File system statistics, as statfs(2) returns them.
/// Wire: type[4] bsize[4] blocks[8] bfree[8] bavail[8] files[8] ffree[8] fsid[8] namelen[4].
public struct Rstatfs: WireMessage {
    public static let messageType = MessageType.Rstatfs

    public var type: UInt32
    public var bsize: UInt32
    public var blocks: UInt64
    public var bfree: UInt64
    public var bavail: UInt64
    public var files: UInt64
    public var ffree: UInt64
    public var fsid: UInt64
    public var namelen: UInt32

    public init(
        type: UInt32, bsize: UInt32, blocks: UInt64, bfree: UInt64, bavail: UInt64, files: UInt64,
        ffree: UInt64, fsid: UInt64, namelen: UInt32
    ) {
        self.type = type
        self.bsize = bsize
        self.blocks = blocks
        self.bfree = bfree
        self.bavail = bavail
        self.files = files
        self.ffree = ffree
        self.fsid = fsid
        self.namelen = namelen
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        type = try reader.u32()
        bsize = try reader.u32()
        blocks = try reader.u64()
        bfree = try reader.u64()
        bavail = try reader.u64()
        files = try reader.u64()
        ffree = try reader.u64()
        fsid = try reader.u64()
        namelen = try reader.u32()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(type)
        writer.u32(bsize)
        writer.u64(blocks)
        writer.u64(bfree)
        writer.u64(bavail)
        writer.u64(files)
        writer.u64(ffree)
        writer.u64(fsid)
        writer.u32(namelen)
    }
}

/// The opened file's qid and iounit (0: msize - 24).
/// Wire: qid[13] iounit[4].
public struct Rlopen: QidIounitBodyMessage {
    public static let messageType = MessageType.Rlopen

    public var qid: Qid
    public var iounit: UInt32

    public init(qid: Qid, iounit: UInt32) {
        self.qid = qid
        self.iounit = iounit
    }
}

/// The created file's qid and iounit.
/// Wire: qid[13] iounit[4].
public struct Rlcreate: QidIounitBodyMessage {
    public static let messageType = MessageType.Rlcreate

    public var qid: Qid
    public var iounit: UInt32

    public init(qid: Qid, iounit: UInt32) {
        self.qid = qid
        self.iounit = iounit
    }
}

/// The new symlink's qid.
/// Wire: qid[13].
public struct Rsymlink: QidBodyMessage {
    public static let messageType = MessageType.Rsymlink

    public var qid: Qid

    public init(qid: Qid) {
        self.qid = qid
    }
}

/// The new node's qid.
/// Wire: qid[13].
public struct Rmknod: QidBodyMessage {
    public static let messageType = MessageType.Rmknod

    public var qid: Qid

    public init(qid: Qid) {
        self.qid = qid
    }
}

/// The file was moved.
/// Wire: (empty body).
public struct Rrename: EmptyBodyMessage {
    public static let messageType = MessageType.Rrename

    public init() {}
}

/// The symlink's target.
/// Wire: target[s].
public struct Rreadlink: WireMessage {
    public static let messageType = MessageType.Rreadlink

    public var target: WireString

    public init(target: WireString) {
        self.target = target
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        target = try reader.string()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.string(target)
    }
}

/// The attributes of the file; `valid` says which of them the server filled in.
/// Wire: valid[8] qid[13] mode[4] uid[4] gid[4] nlink[8] rdev[8] size[8] blksize[8] blocks[8]
///     atime_sec[8] atime_nsec[8] mtime_sec[8] mtime_nsec[8] ctime_sec[8] ctime_nsec[8] btime_sec[8]
///     btime_nsec[8] gen[8] data_version[8].
public struct Rgetattr: WireMessage {
    public static let messageType = MessageType.Rgetattr

    public var valid: UInt64
    public var qid: Qid
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var nlink: UInt64
    public var rdev: UInt64
    public var size: UInt64
    public var blksize: UInt64
    public var blocks: UInt64
    public var atimeSec: UInt64
    public var atimeNsec: UInt64
    public var mtimeSec: UInt64
    public var mtimeNsec: UInt64
    public var ctimeSec: UInt64
    public var ctimeNsec: UInt64
    public var btimeSec: UInt64
    public var btimeNsec: UInt64
    public var gen: UInt64
    public var dataVersion: UInt64

    public init(
        valid: UInt64, qid: Qid, mode: UInt32, uid: UInt32, gid: UInt32, nlink: UInt64, rdev: UInt64,
        size: UInt64, blksize: UInt64, blocks: UInt64, atimeSec: UInt64, atimeNsec: UInt64,
        mtimeSec: UInt64, mtimeNsec: UInt64, ctimeSec: UInt64, ctimeNsec: UInt64, btimeSec: UInt64,
        btimeNsec: UInt64, gen: UInt64, dataVersion: UInt64
    ) {
        self.valid = valid
        self.qid = qid
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.nlink = nlink
        self.rdev = rdev
        self.size = size
        self.blksize = blksize
        self.blocks = blocks
        self.atimeSec = atimeSec
        self.atimeNsec = atimeNsec
        self.mtimeSec = mtimeSec
        self.mtimeNsec = mtimeNsec
        self.ctimeSec = ctimeSec
        self.ctimeNsec = ctimeNsec
        self.btimeSec = btimeSec
        self.btimeNsec = btimeNsec
        self.gen = gen
        self.dataVersion = dataVersion
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        valid = try reader.u64()
        qid = try Qid(from: &reader)
        mode = try reader.u32()
        uid = try reader.u32()
        gid = try reader.u32()
        nlink = try reader.u64()
        rdev = try reader.u64()
        size = try reader.u64()
        blksize = try reader.u64()
        blocks = try reader.u64()
        atimeSec = try reader.u64()
        atimeNsec = try reader.u64()
        mtimeSec = try reader.u64()
        mtimeNsec = try reader.u64()
        ctimeSec = try reader.u64()
        ctimeNsec = try reader.u64()
        btimeSec = try reader.u64()
        btimeNsec = try reader.u64()
        gen = try reader.u64()
        dataVersion = try reader.u64()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u64(valid)
        qid.encode(into: &writer)
        writer.u32(mode)
        writer.u32(uid)
        writer.u32(gid)
        writer.u64(nlink)
        writer.u64(rdev)
        writer.u64(size)
        writer.u64(blksize)
        writer.u64(blocks)
        writer.u64(atimeSec)
        writer.u64(atimeNsec)
        writer.u64(mtimeSec)
        writer.u64(mtimeNsec)
        writer.u64(ctimeSec)
        writer.u64(ctimeNsec)
        writer.u64(btimeSec)
        writer.u64(btimeNsec)
        writer.u64(gen)
        writer.u64(dataVersion)
    }
}

/// The attributes were set.
/// Wire: (empty body).
public struct Rsetattr: EmptyBodyMessage {
    public static let messageType = MessageType.Rsetattr

    public init() {}
}

/// The size of the attribute's value (or of the name list) to read from `newfid`.
/// Wire: size[8].
public struct Rxattrwalk: WireMessage {
    public static let messageType = MessageType.Rxattrwalk

    public var size: UInt64

    public init(size: UInt64) {
        self.size = size
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        size = try reader.u64()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u64(size)
    }
}

/// `fid` now takes the attribute's value by Twrite.
/// Wire: (empty body).
public struct Rxattrcreate: EmptyBodyMessage {
    public static let messageType = MessageType.Rxattrcreate

    public init() {}
}

/// Directory entries as raw bytes (the gateway forwards them); `Dirent.decodeAll` reads them.
/// Wire: count[4] data[count].
public struct Rreaddir: WireMessage {
    public static let messageType = MessageType.Rreaddir

    public var data: [UInt8]

    public init(data: [UInt8]) {
        self.data = data
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        let count = try reader.u32()
        data = try reader.data(count: count)
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(UInt32(truncatingIfNeeded: data.count))
        writer.raw(data)
    }
}

/// The file is on stable storage.
/// Wire: (empty body).
public struct Rfsync: EmptyBodyMessage {
    public static let messageType = MessageType.Rfsync

    public init() {}
}

/// The lock's outcome: P9_LOCK_SUCCESS, BLOCKED, ERROR or GRACE.
/// Wire: status[1].
public struct Rlock: WireMessage {
    public static let messageType = MessageType.Rlock

    public var status: UInt8

    public init(status: UInt8) {
        self.status = status
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        status = try reader.u8()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u8(status)
    }
}

/// The conflicting lock, or the tested one with type F_UNLCK when none conflicts.
/// Wire: type[1] start[8] length[8] proc_id[4] client_id[s].
public struct Rgetlock: WireMessage {
    public static let messageType = MessageType.Rgetlock

    public var type: UInt8
    public var start: UInt64
    public var length: UInt64
    public var procID: UInt32
    public var clientID: WireString

    public init(type: UInt8, start: UInt64, length: UInt64, procID: UInt32, clientID: WireString) {
        self.type = type
        self.start = start
        self.length = length
        self.procID = procID
        self.clientID = clientID
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        type = try reader.u8()
        start = try reader.u64()
        length = try reader.u64()
        procID = try reader.u32()
        clientID = try reader.string()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u8(type)
        writer.u64(start)
        writer.u64(length)
        writer.u32(procID)
        writer.string(clientID)
    }
}

/// The link was created.
/// Wire: (empty body).
public struct Rlink: EmptyBodyMessage {
    public static let messageType = MessageType.Rlink

    public init() {}
}

/// The new directory's qid.
/// Wire: qid[13].
public struct Rmkdir: QidBodyMessage {
    public static let messageType = MessageType.Rmkdir

    public var qid: Qid

    public init(qid: Qid) {
        self.qid = qid
    }
}

/// The file was renamed.
/// Wire: (empty body).
public struct Rrenameat: EmptyBodyMessage {
    public static let messageType = MessageType.Rrenameat

    public init() {}
}

/// The name was removed.
/// Wire: (empty body).
public struct Runlinkat: EmptyBodyMessage {
    public static let messageType = MessageType.Runlinkat

    public init() {}
}
