// Messages that set up and tear down a session: version, auth, attach, flush (every dialect).

/// Starts a session: proposes the largest frame (msize) and the dialect. Sent with tag NOTAG.
/// Wire: msize[4] version[s].
public struct Tversion: WireMessage {
    public static let messageType = MessageType.Tversion

    public var msize: UInt32
    /// "9P2000", "9P2000.u" or "9P2000.L"; anything else is answered with "unknown".
    public var version: WireString

    public init(msize: UInt32, version: WireString) {
        self.msize = msize
        self.version = version
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        msize = try reader.u32()
        version = try reader.string()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(msize)
        writer.string(version)
    }
}

/// The server's answer to Tversion: an msize no larger than proposed, and the dialect it will speak.
/// Wire: msize[4] version[s].
public struct Rversion: WireMessage {
    public static let messageType = MessageType.Rversion

    public var msize: UInt32
    public var version: WireString

    public init(msize: UInt32, version: WireString) {
        self.msize = msize
        self.version = version
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        msize = try reader.u32()
        version = try reader.string()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(msize)
        writer.string(version)
    }
}

/// Asks for an authentication fid (afid) to run an auth protocol over before Tattach.
/// Wire: afid[4] uname[s] aname[s] (n_uname[4] in .u and .L).
public struct Tauth: WireMessage {
    public static let messageType = MessageType.Tauth

    public var afid: UInt32
    public var uname: WireString
    public var aname: WireString
    /// Numeric user id (9P2000.u and .L); `NineP.noUid` when the name is what counts.
    public var nUname: UInt32

    public init(afid: UInt32, uname: WireString, aname: WireString, nUname: UInt32 = NineP.noUid) {
        self.afid = afid
        self.uname = uname
        self.aname = aname
        self.nUname = nUname
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        afid = try reader.u32()
        uname = try reader.string()
        aname = try reader.string()
        nUname = try dialect.hasUnixExtensions ? reader.u32() : NineP.noUid
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(afid)
        writer.string(uname)
        writer.string(aname)
        if dialect.hasUnixExtensions {
            writer.u32(nUname)
        }
    }
}

/// The qid of the new afid (QTAUTH).
/// Wire: aqid[13].
public struct Rauth: WireMessage {
    public static let messageType = MessageType.Rauth

    public var aqid: Qid

    public init(aqid: Qid) {
        self.aqid = aqid
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        aqid = try Qid(from: &reader)
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        aqid.encode(into: &writer)
    }
}

/// Binds `fid` to the root of the tree `aname` as user `uname`; `afid` is `NineP.noFid` without auth.
/// Wire: fid[4] afid[4] uname[s] aname[s] (n_uname[4] in .u and .L).
public struct Tattach: WireMessage {
    public static let messageType = MessageType.Tattach

    public var fid: UInt32
    public var afid: UInt32
    public var uname: WireString
    public var aname: WireString
    /// Numeric user id (9P2000.u and .L); `NineP.noUid` when the name is what counts.
    public var nUname: UInt32

    public init(fid: UInt32, afid: UInt32, uname: WireString, aname: WireString, nUname: UInt32 = NineP.noUid) {
        self.fid = fid
        self.afid = afid
        self.uname = uname
        self.aname = aname
        self.nUname = nUname
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        fid = try reader.u32()
        afid = try reader.u32()
        uname = try reader.string()
        aname = try reader.string()
        nUname = try dialect.hasUnixExtensions ? reader.u32() : NineP.noUid
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
        writer.u32(afid)
        writer.string(uname)
        writer.string(aname)
        if dialect.hasUnixExtensions {
            writer.u32(nUname)
        }
    }
}

/// The qid of the tree's root.
/// Wire: qid[13].
public struct Rattach: QidBodyMessage {
    public static let messageType = MessageType.Rattach

    public var qid: Qid

    public init(qid: Qid) {
        self.qid = qid
    }
}

/// Asks the server to abandon the request with tag `oldtag`; answered only after it is gone.
/// Wire: oldtag[2].
public struct Tflush: WireMessage {
    public static let messageType = MessageType.Tflush

    public var oldtag: UInt16

    public init(oldtag: UInt16) {
        self.oldtag = oldtag
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        oldtag = try reader.u16()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u16(oldtag)
    }
}

/// The flushed request will not be answered (or already was).
/// Wire: (empty body).
public struct Rflush: EmptyBodyMessage {
    public static let messageType = MessageType.Rflush

    public init() {}
}
