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
