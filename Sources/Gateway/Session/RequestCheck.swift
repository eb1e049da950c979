import NineP

/// Checks that a client request is well formed before anything acts on it, so a malformed frame
/// is answered by the gateway and never reaches a fragile server.
enum RequestCheck {
    /// Small requests are fully decoded (bounds, string lengths, nwname ≤ 16, no trailing bytes).
    /// Twrite is checked from its head alone: its count must be exactly what the frame's size
    /// leaves for data, so `frame` may be just the first bytes of a frame of `frameSize` bytes
    /// whose payload is still arriving (every other type must be whole).
    static func validate(_ frame: UnsafeRawBufferPointer, frameSize: Int, type: MessageType, dialect: Dialect) throws(WireError) {
        if type == .Twrite {
            var reader = WireReader(frame, position: FrameHeader.byteCount)
            try reader.skip(12) // fid[4] offset[8]
            let count = Int(try reader.u32())
            let data = frameSize &- NineP.twriteHeaderSize
            if count > data { throw .truncated(needed: count, remaining: data) }
            if count < data { throw .trailingBytes(data &- count) }
            return
        }
        guard frame.count == frameSize else { throw .truncated(needed: frameSize, remaining: frame.count) }
        _ = try Frame<TMessage>.decode(frame, dialect: dialect)
    }
}
