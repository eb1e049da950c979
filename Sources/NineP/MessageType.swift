/// Every 9P message type of 9P2000, 9P2000.u and 9P2000.L, by its wire number.
/// Names follow the spec (Twalk, Rlerror …). What each type is allowed to be, and where its fids
/// are, is described once in `MessageInfo.table`, not in switches spread over the gateway.
public enum MessageType: UInt8, Sendable, CaseIterable {
    // 9P2000.L
    case Tlerror = 6, Rlerror = 7
    case Tstatfs = 8, Rstatfs = 9
    case Tlopen = 12, Rlopen = 13
    case Tlcreate = 14, Rlcreate = 15
    case Tsymlink = 16, Rsymlink = 17
    case Tmknod = 18, Rmknod = 19
    case Trename = 20, Rrename = 21
    case Treadlink = 22, Rreadlink = 23
    case Tgetattr = 24, Rgetattr = 25
    case Tsetattr = 26, Rsetattr = 27
    case Txattrwalk = 30, Rxattrwalk = 31
    case Txattrcreate = 32, Rxattrcreate = 33
    case Treaddir = 40, Rreaddir = 41
    case Tfsync = 50, Rfsync = 51
    case Tlock = 52, Rlock = 53
    case Tgetlock = 54, Rgetlock = 55
    case Tlink = 70, Rlink = 71
    case Tmkdir = 72, Rmkdir = 73
    case Trenameat = 74, Rrenameat = 75
    case Tunlinkat = 76, Runlinkat = 77
    // 9P2000 (and .u)
    case Tversion = 100, Rversion = 101
    case Tauth = 102, Rauth = 103
    case Tattach = 104, Rattach = 105
    case Terror = 106, Rerror = 107
    case Tflush = 108, Rflush = 109
    case Twalk = 110, Rwalk = 111
    case Topen = 112, Ropen = 113
    case Tcreate = 114, Rcreate = 115
    case Tread = 116, Rread = 117
    case Twrite = 118, Rwrite = 119
    case Tclunk = 120, Rclunk = 121
    case Tremove = 122, Rremove = 123
    case Tstat = 124, Rstat = 125
    case Twstat = 126, Rwstat = 127

    /// T-messages have even numbers, their replies the next odd one.
    public var isRequest: Bool { rawValue & 1 == 0 }

    /// The reply type that answers this request (nil for replies).
    public var response: MessageType? { isRequest ? MessageType(rawValue: rawValue &+ 1) : nil }

    /// The static description of this type.
    public var info: MessageInfo { MessageInfo.table[Int(rawValue)]! }
}

/// Which dialects a message belongs to, as a small bit set.
public struct DialectSet: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let plan9 = DialectSet(rawValue: 1)
    public static let unix = DialectSet(rawValue: 2)
    public static let linux = DialectSet(rawValue: 4)
    public static let all: DialectSet = [.plan9, .unix, .linux]
    public static let legacy: DialectSet = [.plan9, .unix]
    public static let none: DialectSet = []

    public func contains(_ dialect: Dialect) -> Bool {
        let bit: DialectSet = switch dialect {
        case .plan9: .plan9
        case .unix: .unix
        case .linux: .linux
        }
        return isSuperset(of: bit)
    }
}

/// What a request does to a fid it names. The gateway checks and commits fid-table changes from this
/// alone, so a new message type needs a table row, not new proxy code.
public enum FidRole: Sendable, Hashable {
    /// Must be a fid the client holds.
    case existing
    /// Must be a fid the client holds, or NOFID (Tattach's afid).
    case existingOrNone
    /// Must not be held yet; it exists after a successful reply (Twalk's newfid, Tattach's fid).
    /// When it equals an existing fid of the same message (Twalk fid == newfid) the fid is replaced in place.
    case created
    /// Must be held; it is gone after the reply, whatever the reply says (Tclunk, Tremove).
    case released
}

/// One step of a message body's prefix, up to and including its last fid field.
public enum FidLayoutStep: Sendable, Hashable {
    /// A fid field, by its name in the spec, and what the request does to it.
    case fid(String, FidRole)
    /// A fixed-size field that is not a fid.
    case skip(Int)
    /// A 9P string (2-byte length + bytes).
    case string
}

/// Where one fid sits in a frame, found by walking a layout.
public struct FidLocation: Sendable, Hashable {
    /// Byte offset from the start of the frame (the size field).
    public var offset: Int
    public var name: String
    public var role: FidRole
}

/// The static facts about one message type.
public struct MessageInfo: Sendable {
    public let type: MessageType
    public let name: String
    /// Dialects in which a client may send this request, or a server this reply.
    public let dialects: DialectSet
    /// The body's prefix up to its last fid; empty for messages without fids.
    public let fidLayout: [FidLayoutStep]

    init(_ type: MessageType, _ dialects: DialectSet, _ fidLayout: [FidLayoutStep] = []) {
        self.type = type
        self.name = String(describing: type)
        self.dialects = dialects
        self.fidLayout = fidLayout
    }

    /// Byte offset of the first body byte within a frame: size[4] type[1] tag[2].
    public static let headerSize = 7

    /// The fids of a request frame, in layout order. Reads only the prefix the layout covers,
    /// so it costs a few bounds checks, not a decode.
    public func locateFids(in frame: UnsafeRawBufferPointer) throws(WireError) -> [FidLocation] {
        if fidLayout.isEmpty { return [] }
        var reader = WireReader(frame, position: Self.headerSize)
        var found: [FidLocation] = []
        found.reserveCapacity(2)
        for step in fidLayout {
            switch step {
            case let .fid(name, role):
                found.append(FidLocation(offset: reader.position, name: name, role: role))
                try reader.skip(4)
            case let .skip(count):
                try reader.skip(count)
            case .string:
                try reader.skipString()
            }
        }
        return found
    }

    private static let fid = FidLayoutStep.fid("fid", .existing)

    /// One row per type, indexed by wire number; nil where no type exists.
    public static let table: [MessageInfo?] = {
        let rows: [MessageInfo] = [
            // 9P2000.L requests and replies
            MessageInfo(.Tlerror, .none), MessageInfo(.Rlerror, .linux),
            MessageInfo(.Tstatfs, .linux, [fid]), MessageInfo(.Rstatfs, .linux),
            MessageInfo(.Tlopen, .linux, [fid]), MessageInfo(.Rlopen, .linux),
            MessageInfo(.Tlcreate, .linux, [fid]), MessageInfo(.Rlcreate, .linux),
            MessageInfo(.Tsymlink, .linux, [fid]), MessageInfo(.Rsymlink, .linux),
            MessageInfo(.Tmknod, .linux, [.fid("dfid", .existing)]), MessageInfo(.Rmknod, .linux),
            MessageInfo(.Trename, .linux, [fid, .fid("dfid", .existing)]), MessageInfo(.Rrename, .linux),
            MessageInfo(.Treadlink, .linux, [fid]), MessageInfo(.Rreadlink, .linux),
            MessageInfo(.Tgetattr, .linux, [fid]), MessageInfo(.Rgetattr, .linux),
            MessageInfo(.Tsetattr, .linux, [fid]), MessageInfo(.Rsetattr, .linux),
            MessageInfo(.Txattrwalk, .linux, [fid, .fid("newfid", .created)]), MessageInfo(.Rxattrwalk, .linux),
            MessageInfo(.Txattrcreate, .linux, [fid]), MessageInfo(.Rxattrcreate, .linux),
            MessageInfo(.Treaddir, .linux, [fid]), MessageInfo(.Rreaddir, .linux),
            MessageInfo(.Tfsync, .linux, [fid]), MessageInfo(.Rfsync, .linux),
            MessageInfo(.Tlock, .linux, [fid]), MessageInfo(.Rlock, .linux),
            MessageInfo(.Tgetlock, .linux, [fid]), MessageInfo(.Rgetlock, .linux),
            MessageInfo(.Tlink, .linux, [.fid("dfid", .existing), fid]), MessageInfo(.Rlink, .linux),
            MessageInfo(.Tmkdir, .linux, [.fid("dfid", .existing)]), MessageInfo(.Rmkdir, .linux),
            MessageInfo(.Trenameat, .linux, [.fid("olddirfid", .existing), .string, .fid("newdirfid", .existing)]),
            MessageInfo(.Rrenameat, .linux),
            MessageInfo(.Tunlinkat, .linux, [.fid("dirfd", .existing)]), MessageInfo(.Runlinkat, .linux),
            // 9P2000, shared by all dialects unless marked legacy
            MessageInfo(.Tversion, .all), MessageInfo(.Rversion, .all),
            MessageInfo(.Tauth, .all, [.fid("afid", .created)]), MessageInfo(.Rauth, .all),
            MessageInfo(.Tattach, .all, [.fid("fid", .created), .fid("afid", .existingOrNone)]),
            MessageInfo(.Rattach, .all),
            MessageInfo(.Terror, .none),
            // Some .L servers (nfs-ganesha) answer with Rerror; a reply decoder must accept it.
            MessageInfo(.Rerror, .all),
            MessageInfo(.Tflush, .all), MessageInfo(.Rflush, .all),
            MessageInfo(.Twalk, .all, [fid, .fid("newfid", .created)]), MessageInfo(.Rwalk, .all),
            MessageInfo(.Topen, .legacy, [fid]), MessageInfo(.Ropen, .legacy),
            MessageInfo(.Tcreate, .legacy, [fid]), MessageInfo(.Rcreate, .legacy),
            MessageInfo(.Tread, .all, [fid]), MessageInfo(.Rread, .all),
            MessageInfo(.Twrite, .all, [fid]), MessageInfo(.Rwrite, .all),
            MessageInfo(.Tclunk, .all, [.fid("fid", .released)]), MessageInfo(.Rclunk, .all),
            MessageInfo(.Tremove, .all, [.fid("fid", .released)]), MessageInfo(.Rremove, .all),
            MessageInfo(.Tstat, .legacy, [fid]), MessageInfo(.Rstat, .legacy),
            MessageInfo(.Twstat, .legacy, [fid]), MessageInfo(.Rwstat, .legacy),
        ]
        var table = [MessageInfo?](repeating: nil, count: 256)
        for row in rows { table[Int(row.type.rawValue)] = row }
        return table
    }()
}

/// 9P's reserved values.
public enum NineP {
    /// "No fid": Tattach's afid when there is no authentication.
    public static let noFid: UInt32 = 0xFFFF_FFFF
    /// "No tag": the tag of Tversion.
    public static let noTag: UInt16 = 0xFFFF
    /// The most names a Twalk may carry and qids an Rwalk may return.
    public static let maxWalkElements = 16
    /// Bytes of a Qid on the wire.
    public static let qidSize = 13
    /// Header bytes of Rread/Twrite before the data (size, type, tag, count and for Twrite fid + offset).
    public static let rreadHeaderSize = 11
    public static let twriteHeaderSize = 23
    /// Where count sits in Tread, Treaddir and Twrite (header, fid[4], offset[8]), which the
    /// gateway caps in place.
    public static let ioCountOffset = 19
    /// Where offset sits in Tread, Treaddir and Twrite (header, fid[4]).
    public static let ioOffsetOffset = 11
    /// What msize leaves for a Tread's or Twrite's data by convention (P9_IOHDRSZ): a server's
    /// iounit is msize minus this, and clients ask no more.
    public static let ioHeaderSize = 24
    /// Where iounit sits in Rlopen, Rlcreate, Ropen and Rcreate (header, qid[13]).
    public static let iounitOffset = 20
}
