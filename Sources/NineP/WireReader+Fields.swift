/// Reads the composite fields messages share, with the same bounds rules as `WireReader`'s own reads.
extension WireReader {
    /// `count` bytes from a 4-byte wire count (Twrite, Rread, Rreaddir). The count is checked against
    /// what is left before anything is allocated.
    public mutating func data(count: UInt32) throws(WireError) -> [UInt8] {
        guard let length = Int(exactly: count) else {
            throw .limitExceeded(field: "count", value: Int.max, limit: remaining)
        }
        return try bytes(length)
    }

    /// A reader over the next `count` bytes only, so a nested structure (a stat) cannot read past
    /// its own size; this reader moves past them.
    public mutating func subReader(_ count: Int) throws(WireError) -> WireReader {
        try need(count)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<(position &+ count)])
        try skip(count)
        return WireReader(slice)
    }

    /// A list count (nwname, nwqid) that must not exceed `limit`.
    public mutating func count16(field: String, limit: Int) throws(WireError) -> Int {
        let value = Int(try u16())
        guard value <= limit else { throw .limitExceeded(field: field, value: value, limit: limit) }
        return value
    }
}

/// Runs `body` over an array's bytes with typed throws (`Array.withUnsafeBytes` only rethrows `any Error`).
func withBytes<Result>(
    of array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(WireError) -> Result
) throws(WireError) -> Result {
    let outcome = array.withUnsafeBytes { raw in Swift.Result { () throws(WireError) -> Result in try body(raw) } }
    return try outcome.get()
}
