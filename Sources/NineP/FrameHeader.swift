/// The 7 bytes every 9P message starts with: size[4] type[1] tag[2].
/// The hot path reads only this and the fields it must rewrite; the rest is forwarded untouched.
public struct FrameHeader: Sendable, Hashable {
    /// The whole frame's length, header included.
    public var size: UInt32
    public var type: UInt8
    public var tag: UInt16

    public init(size: UInt32, type: UInt8, tag: UInt16) {
        self.size = size
        self.type = type
        self.tag = tag
    }

    public static let byteCount = 7

    /// Reads the header at `offset`, or nil when fewer than 7 bytes are there yet.
    @inlinable
    public static func peek(_ bytes: UnsafeRawBufferPointer, at offset: Int = 0) -> FrameHeader? {
        guard offset >= 0, bytes.count &- offset >= byteCount else { return nil }
        return FrameHeader(
            size: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)),
            type: bytes.loadUnaligned(fromByteOffset: offset &+ 4, as: UInt8.self),
            tag: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset &+ 5, as: UInt16.self))
        )
    }

    /// Checks `7 ≤ size ≤ limit` before anyone allocates or waits for `size` bytes.
    @inlinable
    public func validate(limit: UInt32) throws(WireError) {
        guard size >= UInt32(Self.byteCount), size <= limit else {
            throw .badSize(size: size, limit: limit)
        }
    }

    /// The type, if it is one 9P knows.
    public var messageType: MessageType? { MessageType(rawValue: type) }
}

/// In-place edits of a frame's fixed fields, for the proxy's rewrite of tags and fids.
public enum FramePatch {
    @inlinable
    public static func setTag(_ tag: UInt16, in frame: UnsafeMutableRawBufferPointer) {
        frame.storeBytes(of: tag.littleEndian, toByteOffset: 5, as: UInt16.self)
    }

    @inlinable
    public static func setU32(_ value: UInt32, at offset: Int, in frame: UnsafeMutableRawBufferPointer) {
        frame.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
    }

    @inlinable
    public static func setU64(_ value: UInt64, at offset: Int, in frame: UnsafeMutableRawBufferPointer) {
        frame.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
    }

    @inlinable
    public static func u32(at offset: Int, in frame: UnsafeRawBufferPointer) -> UInt32 {
        UInt32(littleEndian: frame.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inlinable
    public static func u64(at offset: Int, in frame: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(littleEndian: frame.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inlinable
    public static func u16(at offset: Int, in frame: UnsafeRawBufferPointer) -> UInt16 {
        UInt16(littleEndian: frame.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
}
