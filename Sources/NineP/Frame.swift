/// One 9P message with its tag: what travels between peers, minus the size and type bytes,
/// which `encode` derives and `decode` checks.
public struct Frame<Message> {
    public var tag: UInt16
    public var message: Message

    public init(tag: UInt16, message: Message) {
        self.tag = tag
        self.message = message
    }
}

extension Frame: Sendable where Message: Sendable {}
extension Frame: Equatable where Message: Equatable {}
extension Frame: Hashable where Message: Hashable {}

extension Frame where Message: FrameMessage {
    /// Decodes a whole frame, header included. The frame is accepted only if its size field equals
    /// its length, its type exists, goes in this direction and belongs to `dialect`, and its body
    /// uses every byte: the rules of plan9port's convM2S, so nothing malformed reaches a handler.
    public static func decode(_ frame: UnsafeRawBufferPointer, dialect: Dialect) throws(WireError) -> Frame {
        guard let header = FrameHeader.peek(frame) else {
            throw .truncated(needed: FrameHeader.byteCount, remaining: frame.count)
        }
        let declared = UInt64(header.size)
        let actual = UInt64(frame.count)
        if declared > actual {
            throw .truncated(needed: Int(clamping: declared), remaining: frame.count)
        }
        if declared < actual {
            throw .inconsistent("size field \(header.size) but the frame has \(frame.count) bytes")
        }
        guard let type = MessageType(rawValue: header.type) else { throw .unknownType(header.type) }
        guard type.isRequest == Message.isRequest else { throw .wrongDirection(header.type) }
        guard type.info.dialects.contains(dialect) else { throw .unknownType(header.type) }
        var reader = WireReader(frame, position: FrameHeader.byteCount)
        let message = try Message.decodeBody(type, from: &reader, dialect: dialect)
        try reader.finish()
        return Frame(tag: header.tag, message: message)
    }

    /// Decodes a whole frame held in an array (tests, replies the gateway reads).
    public static func decode(_ frame: [UInt8], dialect: Dialect) throws(WireError) -> Frame {
        try withBytes(of: frame) { (raw) throws(WireError) -> Frame in try decode(raw, dialect: dialect) }
    }

    /// The whole frame, size field included. Fields `dialect` lacks are left out. The message is not
    /// checked against the dialect: sending only what the session speaks is the caller's job.
    public func encode(dialect: Dialect) -> [UInt8] {
        var writer = WireWriter(capacity: 64)
        writer.u32(0)
        writer.u8(message.type.rawValue)
        writer.u16(tag)
        message.encodeBody(into: &writer, dialect: dialect)
        writer.patchU32(at: 0, UInt32(truncatingIfNeeded: writer.bytes.count))
        return writer.bytes
    }
}
