// Replies to the 9P2000 file requests.

/// The qids of the steps that succeeded. Fewer than requested means `newfid` was not created.
/// Wire: nwqid[2] nwqid*qid[13].
public struct Rwalk: WireMessage {
    public static let messageType = MessageType.Rwalk

    public var wqids: [Qid]

    public init(wqids: [Qid]) {
        self.wqids = wqids
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        let count = try reader.count16(field: "nwqid", limit: NineP.maxWalkElements)
        var wqids: [Qid] = []
        wqids.reserveCapacity(count)
        for _ in 0..<count { wqids.append(try Qid(from: &reader)) }
        self.wqids = wqids
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u16(UInt16(truncatingIfNeeded: wqids.count))
        for qid in wqids { qid.encode(into: &writer) }
    }
}

/// The opened file's qid, and the largest I/O that needs no splitting (0: msize - 24).
/// Wire: qid[13] iounit[4].
public struct Ropen: QidIounitBodyMessage {
    public static let messageType = MessageType.Ropen

    public var qid: Qid
    public var iounit: UInt32

    public init(qid: Qid, iounit: UInt32) {
        self.qid = qid
        self.iounit = iounit
    }
}

/// The created file's qid and iounit, as in Ropen.
/// Wire: qid[13] iounit[4].
public struct Rcreate: QidIounitBodyMessage {
    public static let messageType = MessageType.Rcreate

    public var qid: Qid
    public var iounit: UInt32

    public init(qid: Qid, iounit: UInt32) {
        self.qid = qid
        self.iounit = iounit
    }
}

/// The bytes read; fewer than asked (or none) at the end of the file.
/// Wire: count[4] data[count].
public struct Rread: WireMessage {
    public static let messageType = MessageType.Rread

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

/// How many bytes were written.
/// Wire: count[4].
public struct Rwrite: WireMessage {
    public static let messageType = MessageType.Rwrite

    public var count: UInt32

    public init(count: UInt32) {
        self.count = count
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        count = try reader.u32()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(count)
    }
}

/// The fid is forgotten.
/// Wire: (empty body).
public struct Rclunk: EmptyBodyMessage {
    public static let messageType = MessageType.Rclunk

    public init() {}
}

/// The file is removed and the fid forgotten.
/// Wire: (empty body).
public struct Rremove: EmptyBodyMessage {
    public static let messageType = MessageType.Rremove

    public init() {}
}

/// The stat of the file.
/// Wire: n[2] stat[n].
public struct Rstat: WireMessage {
    public static let messageType = MessageType.Rstat

    public var stat: Stat

    public init(stat: Stat) {
        self.stat = stat
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        stat = try Stat(sized: &reader, dialect: dialect)
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        stat.encodeSized(into: &writer, dialect: dialect)
    }
}

/// The stat was changed.
/// Wire: (empty body).
public struct Rwstat: EmptyBodyMessage {
    public static let messageType = MessageType.Rwstat

    public init() {}
}
