/// Why a frame could not be read. Every malformed input becomes one of these, never a trap.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The frame ended before a field could be read.
    case truncated(needed: Int, remaining: Int)
    /// The size field is below the 7-byte header or above the negotiated msize.
    case badSize(size: UInt32, limit: UInt32)
    /// A message type that does not exist, or is not part of the session's dialect.
    case unknownType(UInt8)
    /// A message type that exists but cannot be sent in this direction (an R-message from a client).
    case wrongDirection(UInt8)
    /// A count or length beyond what the protocol allows (nwname > 16, a stat larger than its frame …).
    case limitExceeded(field: String, value: Int, limit: Int)
    /// Bytes were left after the last field of a message.
    case trailingBytes(Int)
    /// A field's value that the protocol forbids (an inner stat size that disagrees with its frame).
    case inconsistent(String)

    public var description: String {
        switch self {
        case let .truncated(needed, remaining): "truncated frame: needed \(needed) bytes, \(remaining) left"
        case let .badSize(size, limit): "frame size \(size) outside 7...\(limit)"
        case let .unknownType(type): "unknown message type \(type)"
        case let .wrongDirection(type): "message type \(type) sent in the wrong direction"
        case let .limitExceeded(field, value, limit): "\(field) is \(value), limit \(limit)"
        case let .trailingBytes(count): "\(count) bytes left over after the message"
        case let .inconsistent(what): "inconsistent message: \(what)"
        }
    }
}
