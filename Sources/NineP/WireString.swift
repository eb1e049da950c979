/// A 9P string as it travels: a length and that many bytes, kept byte for byte.
///
/// The spec says UTF-8, but real clients send whatever bytes a name has (Linux's v9fs passes file
/// names through unchanged, and a Linux file name is any bytes but '/' and NUL). A gateway that
/// insisted on UTF-8 would list a file in Rreaddir that the client could then never walk to, and
/// a codec that decoded lossily would name a different file. So names stay bytes; `string` is the
/// text when there is one, and `description` a readable form for logs.
public struct WireString: Hashable, Sendable, ExpressibleByStringLiteral, ExpressibleByStringInterpolation,
    CustomStringConvertible
{
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    public init(_ string: String) {
        bytes = Array(string.utf8)
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public init(stringInterpolation: DefaultStringInterpolation) {
        self.init(String(stringInterpolation: stringInterpolation))
    }

    /// The text, or nil when the bytes are not UTF-8.
    public var string: String? { String(validating: bytes, as: UTF8.self) }

    /// The text, with each byte that is not UTF-8 shown as U+FFFD: for logs and messages only.
    public var description: String { String(decoding: bytes, as: UTF8.self) }

    public var isEmpty: Bool { bytes.isEmpty }
}
