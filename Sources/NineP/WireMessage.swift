/// The codec of one message body (what follows the 7-byte header). Each T- and R-message struct
/// conforms, so `TMessage` and `RMessage` only dispatch on the type byte.
public protocol WireMessage: Sendable, Hashable {
    /// The wire type this struct is the body of.
    static var messageType: MessageType { get }
    /// Reads the body; the caller checks afterwards that nothing is left (`WireReader.finish`).
    init(from reader: inout WireReader, dialect: Dialect) throws(WireError)
    /// Appends the body. Fields the dialect lacks are left out; a value too large for its wire field
    /// (more than 65535 names, a 4 GiB payload) is truncated, never trapped on, and the peer rejects it.
    func encode(into writer: inout WireWriter, dialect: Dialect)
}

// Bodies several messages share, each coded once here. A message conforming to one of these
// gets its `init(from:dialect:)` and `encode(into:dialect:)` from it.

/// No body at all (Rclunk, Rflush, Rrename …): the type byte says everything.
public protocol EmptyBodyMessage: WireMessage {
    init()
}

extension EmptyBodyMessage {
    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) { self.init() }
    public func encode(into writer: inout WireWriter, dialect: Dialect) {}
}

/// Wire: fid[4] (Tclunk, Tremove, Tstat, Tstatfs, Treadlink).
public protocol FidBodyMessage: WireMessage {
    var fid: UInt32 { get }
    init(fid: UInt32)
}

extension FidBodyMessage {
    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        self.init(fid: try reader.u32())
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(fid)
    }
}

/// Wire: qid[13] (Rattach, Rmkdir, Rsymlink, Rmknod).
public protocol QidBodyMessage: WireMessage {
    var qid: Qid { get }
    init(qid: Qid)
}

extension QidBodyMessage {
    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        self.init(qid: try Qid(from: &reader))
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        qid.encode(into: &writer)
    }
}

/// Wire: qid[13] iounit[4] (Ropen, Rcreate, Rlopen, Rlcreate).
public protocol QidIounitBodyMessage: WireMessage {
    var qid: Qid { get }
    var iounit: UInt32 { get }
    init(qid: Qid, iounit: UInt32)
}

extension QidIounitBodyMessage {
    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        let qid = try Qid(from: &reader)
        self.init(qid: qid, iounit: try reader.u32())
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        qid.encode(into: &writer)
        writer.u32(iounit)
    }
}
