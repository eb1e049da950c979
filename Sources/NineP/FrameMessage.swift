/// What `Frame` needs from `TMessage` and `RMessage` to decode and encode whole frames, so the
/// frame checks (size, type, direction, dialect, trailing bytes) are written once for both.
public protocol FrameMessage: Sendable, Hashable {
    /// True for `TMessage`, false for `RMessage`: which wire types this enum may hold.
    static var isRequest: Bool { get }
    /// The wire type of this message.
    var type: MessageType { get }
    /// Decodes a body of `type`; the frame checks have already been made.
    static func decodeBody(_ type: MessageType, from reader: inout WireReader, dialect: Dialect) throws(WireError) -> Self
    /// Appends the body (everything after the 7-byte header).
    func encodeBody(into writer: inout WireWriter, dialect: Dialect)
}
