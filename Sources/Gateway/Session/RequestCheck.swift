import NineP

/// Checks that a client request is well formed before anything acts on it, so a malformed frame
/// is answered by the gateway and never reaches a fragile server.
enum RequestCheck {
    /// Small requests are fully decoded (bounds, string lengths, nwname ≤ 16, no trailing bytes).
    /// Twrite is checked without copying its payload: its count must be exactly what the frame holds.
    static func validate(_ frame: UnsafeRawBufferPointer, type: MessageType, dialect: Dialect) throws(WireError) {
        if type == .Twrite {
            var reader = WireReader(frame, position: FrameHeader.byteCount)
            try reader.skip(12) // fid[4] offset[8]
            let count = Int(try reader.u32())
            try reader.skip(count)
            try reader.finish()
            return
        }
        _ = try Frame<TMessage>.decode(frame, dialect: dialect)
    }
}
