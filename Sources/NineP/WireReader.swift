/// Reads little-endian 9P fields from a byte range and cannot read past its end.
/// Every read checks what is left first, so a hostile length becomes a `WireError`, never a trap.
/// It holds a raw view: use it only while the buffer it reads is alive (inside `withUnsafeBytes`).
public struct WireReader {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    /// Offset of the next unread byte.
    public private(set) var position: Int

    public init(_ bytes: UnsafeRawBufferPointer, position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    public var remaining: Int { bytes.count &- position }

    @inlinable
    mutating func need(_ count: Int) throws(WireError) {
        guard count >= 0, remaining >= count else {
            throw .truncated(needed: count, remaining: remaining)
        }
    }

    public mutating func u8() throws(WireError) -> UInt8 {
        try need(1)
        defer { position &+= 1 }
        return bytes.loadUnaligned(fromByteOffset: position, as: UInt8.self)
    }

    public mutating func u16() throws(WireError) -> UInt16 {
        try need(2)
        defer { position &+= 2 }
        return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt16.self))
    }

    public mutating func u32() throws(WireError) -> UInt32 {
        try need(4)
        defer { position &+= 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }

    public mutating func u64() throws(WireError) -> UInt64 {
        try need(8)
        defer { position &+= 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }

    /// A 9P string: a 2-byte length, then that many bytes, kept as they are (see `WireString`).
    public mutating func string() throws(WireError) -> WireString {
        WireString(bytes: try bytes(Int(try u16())))
    }

    /// Skips a 9P string without decoding it.
    public mutating func skipString() throws(WireError) {
        let count = Int(try u16())
        try skip(count)
    }

    public mutating func skip(_ count: Int) throws(WireError) {
        try need(count)
        position &+= count
    }

    /// `count` raw bytes, copied out.
    public mutating func bytes(_ count: Int) throws(WireError) -> [UInt8] {
        try need(count)
        defer { position &+= count }
        return Array(UnsafeRawBufferPointer(rebasing: bytes[position..<(position &+ count)]))
    }

    /// Fails unless every byte was consumed: a message must use its frame exactly.
    public func finish() throws(WireError) {
        guard remaining == 0 else { throw .trailingBytes(remaining) }
    }
}

/// Appends little-endian 9P fields to a byte array.
public struct WireWriter {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }

    /// Writes a 9P string. Past 65535 bytes it is cut, at a UTF-8 character boundary, because the
    /// length field cannot say more.
    public mutating func string(_ value: WireString) {
        var end = min(value.bytes.count, Int(UInt16.max))
        if end < value.bytes.count {
            while end > 0 && (value.bytes[end] & 0xC0) == 0x80 { end -= 1 }
        }
        u16(UInt16(end))
        bytes.append(contentsOf: value.bytes[..<end])
    }

    public mutating func raw(_ data: some Sequence<UInt8>) { bytes.append(contentsOf: data) }

    /// Overwrites a 4-byte field written earlier (the frame's size, a count known only at the end).
    public mutating func patchU32(at offset: Int, _ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for index in 0..<4 { bytes[offset + index] = raw[index] }
        }
    }

    public mutating func patchU16(at offset: Int, _ value: UInt16) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for index in 0..<2 { bytes[offset + index] = raw[index] }
        }
    }
}
