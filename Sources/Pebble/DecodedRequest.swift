import NineP

/// A client request, decoded once: the policy decides from it and the session keeps what it needs
/// of it (walk names, a flush's old tag, counts), so no field is read from the frame twice.
public struct DecodedRequest: Sendable {
    public let type: MessageType
    /// The whole request; nil for a Twrite, whose data stays in the frame (it may still be
    /// arriving, and the gateway never copies it out).
    public let message: TMessage?
    /// Tread, Treaddir and Twrite: the file offset and the count.
    public let offset: UInt64?
    public let count: UInt32?

    /// Decodes a request, refusing a malformed one (bounds, string lengths, nwname ≤ 16, no
    /// trailing bytes). `frame` is the whole frame of `frameSize` bytes, except for a Twrite, where
    /// it may be just the head of a frame whose payload is still arriving: its count must be
    /// exactly what the frame's size leaves for data.
    public static func decode(_ frame: UnsafeRawBufferPointer, frameSize: Int, type: MessageType,
                              dialect: Dialect) throws(WireError) -> DecodedRequest {
        if type == .Twrite {
            var reader = WireReader(frame, position: FrameHeader.byteCount)
            try reader.skip(4) // fid[4]
            let offset = try reader.u64()
            let count = try reader.u32()
            let data = frameSize &- NineP.twriteHeaderSize
            if Int(count) > data { throw .truncated(needed: Int(count), remaining: data) }
            if Int(count) < data { throw .trailingBytes(data &- Int(count)) }
            return DecodedRequest(type: type, message: nil, offset: offset, count: count)
        }
        guard frame.count == frameSize else { throw .truncated(needed: frameSize, remaining: frame.count) }
        let message = try Frame<TMessage>.decode(frame, dialect: dialect).message
        return switch message {
        case let .read(read): DecodedRequest(type: type, message: message, offset: read.offset, count: read.count)
        case let .readdir(read): DecodedRequest(type: type, message: message, offset: read.offset, count: read.count)
        default: DecodedRequest(type: type, message: message, offset: nil, count: nil)
        }
    }
}
