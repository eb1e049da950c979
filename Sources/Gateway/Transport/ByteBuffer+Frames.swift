import NineP

/// A frame whose size field is out of bounds; its tag is known, so the peer can be told why.
struct FrameSizeError: Error {
    let tag: UInt16
    let reason: WireError
}

extension ByteBuffer {
    /// The next whole 9P frame at the front, mutable for in-place rewriting, or nil when more bytes
    /// are needed (room for the rest is reserved unless `reserving` is false). The size is checked
    /// against `limit` before any wait or allocation, so a hostile size field costs nothing.
    func nextFrame(limit: UInt32, reserving: Bool = true) throws(FrameSizeError) -> UnsafeMutableRawBufferPointer? {
        guard let header = FrameHeader.peek(UnsafeRawBufferPointer(readable)) else { return nil }
        do {
            try header.validate(limit: limit)
        } catch {
            throw FrameSizeError(tag: header.tag, reason: error)
        }
        let size = Int(header.size)
        guard count >= size else {
            if reserving { reserve(size &- count) }
            return nil
        }
        return UnsafeMutableRawBufferPointer(rebasing: readable[0..<size])
    }
}

extension ByteBuffer {
    /// Makes room for the rest of the incomplete frame at the front (whose size was checked).
    func reserveRestOfFrame() {
        guard let header = FrameHeader.peek(UnsafeRawBufferPointer(readable)), Int(header.size) > count else { return }
        reserve(Int(header.size) &- count)
    }
}
