// The two ways a server says a request failed. The session turns its own errors into the one that
// fits its dialect; these structs are what travels.

/// A failure as text (9P2000), with an errno in 9P2000.u.
/// Wire: ename[s], then errno[4] in .u (always) and in .L (optionally: some .L servers send Rerror).
public struct Rerror: WireMessage {
    public static let messageType = MessageType.Rerror

    public var ename: WireString
    /// Always present after decoding 9P2000.u (encoded as 0 when nil), present in .L only when the
    /// server sent it, and never in 9P2000.
    public var errno: UInt32?

    public init(ename: WireString, errno: UInt32? = nil) {
        self.ename = ename
        self.errno = errno
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        ename = try reader.string()
        switch dialect {
        case .plan9: errno = nil
        case .unix: errno = try reader.u32()
        case .linux: errno = try reader.remaining >= 4 ? reader.u32() : nil
        }
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.string(ename)
        switch dialect {
        case .plan9: break
        case .unix: writer.u32(errno ?? 0)
        case .linux: if let errno { writer.u32(errno) }
        }
    }
}

/// A failure as a Linux errno (9P2000.L).
/// Wire: ecode[4].
public struct Rlerror: WireMessage {
    public static let messageType = MessageType.Rlerror

    public var ecode: UInt32

    public init(ecode: UInt32) {
        self.ecode = ecode
    }

    public init(from reader: inout WireReader, dialect: Dialect) throws(WireError) {
        ecode = try reader.u32()
    }

    public func encode(into writer: inout WireWriter, dialect: Dialect) {
        writer.u32(ecode)
    }
}
