/// One open file's Blue state: what a fid wrote and resized that has not reached the server. The
/// writes are extents (offset → bytes, sorted, never overlapping; a sequential write grows the
/// last one up to `extentCap` bytes, then starts the next, so a large file is held in pieces and
/// never copied whole as it grows); a truncation
/// is a `cut` (the server's bytes from there on are gone) and a `length` (the size it set, grown by
/// later writes). Read through it, the file is the server's with these changes applied in order;
/// at commit (Red) `commitPlan` applies them to the server's file: the cut, the writes in offset
/// order, then the length if the writes did not reach it.
///
/// Spilled (`spill()`), the extents keep their offsets and counts but no bytes: the caller keeps
/// the bytes elsewhere at the file's own offsets (a sparse spill file, `BlueSpill`), writes them
/// there before it calls `write`, and reads them back through `read`'s `spilled` closure.
public struct BlueFile: Sendable, Equatable {
    public struct Extent: Sendable, Equatable {
        public var offset: UInt64
        /// The extent's bytes; empty once the file is spilled.
        public var bytes: [UInt8]
        public var count: Int
        public var end: UInt64 { offset &+ UInt64(count) }

        init(offset: UInt64, bytes: [UInt8]) {
            (self.offset, self.bytes, count) = (offset, bytes, bytes.count)
        }

        init(offset: UInt64, count: Int) {
            (self.offset, bytes, self.count) = (offset, [], count)
        }
    }

    public enum CommitStep: Sendable, Equatable {
        /// Set the file's size (Tsetattr's size, Twstat's length).
        case resize(UInt64)
        /// Write `count` bytes of extent `extent` from `start` (its byte index) at `offset`.
        case write(extent: Int, start: Int, count: Int, offset: UInt64)
    }

    public private(set) var extents: [Extent] = []
    /// The server's bytes at or past this offset are gone (the lowest truncation); nil: none.
    public private(set) var cut: UInt64?
    /// The size the last truncation set, grown by the writes after it; nil: no truncation (the
    /// size is the server's, grown by the extents).
    public private(set) var length: UInt64?
    /// The bytes the extents hold.
    public private(set) var byteCount = 0
    /// The size past which a sequential write starts a new extent rather than growing the last.
    public let extentCap: Int
    /// The bytes are kept by the caller, at the file's offsets (`spill()`).
    public private(set) var spilled = false

    public init(extentCap: Int = 1 << 20) { self.extentCap = max(1, extentCap) }

    /// Nothing written or resized.
    public var isEmpty: Bool { extents.isEmpty && cut == nil }

    /// The end of the last extent (0 without any).
    public var extentsEnd: UInt64 { extents.last?.end ?? 0 }

    /// Whether a write of `count` bytes at `offset` ends within the 64-bit offsets (the wire's).
    public static func fits(offset: UInt64, count: Int) -> Bool { count >= 0 && offset <= UInt64.max - UInt64(count) }

    /// Holds a write. The caller checks `fits` first (a write past 2⁶⁴ is the client's error).
    /// Spilled, only the range is recorded: the caller wrote the bytes at `offset` already.
    public mutating func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) {
        guard !bytes.isEmpty, Self.fits(offset: offset, count: bytes.count) else { return }
        let end = offset + UInt64(bytes.count)
        if let length { self.length = max(length, end) }
        if spilled { return recordRange(offset: offset, end: end) }
        byteCount += bytes.count
        // The sequential case: the write starts where the last extent ends.
        if let last = extents.last, last.end == offset {
            if last.count < extentCap {
                extents[extents.count - 1].bytes.append(contentsOf: bytes)
                extents[extents.count - 1].count += bytes.count
            } else {
                var next = [UInt8]()
                next.reserveCapacity(max(extentCap, bytes.count))
                next.append(contentsOf: bytes)
                extents.append(Extent(offset: offset, bytes: next))
            }
            return
        }
        // Extents the write overlaps: lo..<hi.
        let lo = firstIndex { $0.end > offset }
        var hi = lo
        while hi < extents.count, extents[hi].offset < end { hi += 1 }
        if lo == hi {
            extents.insert(Extent(offset: offset, bytes: Array(bytes)), at: lo)
            return
        }
        let start = min(offset, extents[lo].offset)
        let stop = max(end, extents[hi - 1].end)
        if hi - lo == 1, extents[lo].offset <= offset, extents[lo].end >= end {
            // Within one extent: overwritten in place.
            byteCount -= bytes.count
            let at = Int(offset - extents[lo].offset)
            extents[lo].bytes.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: at).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            return
        }
        var merged = [UInt8](repeating: 0, count: Int(stop - start))
        merged.withUnsafeMutableBytes { out in
            for extent in extents[lo..<hi] {
                byteCount -= extent.count
                extent.bytes.withUnsafeBytes { out.baseAddress!.advanced(by: Int(extent.offset - start)).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
            out.baseAddress!.advanced(by: Int(offset - start)).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        }
        byteCount += merged.count - bytes.count
        extents.replaceSubrange(lo..<hi, with: [Extent(offset: start, bytes: merged)])
    }

    /// Holds a size change (a truncation, or an extension with zeros).
    public mutating func resize(to size: UInt64) {
        var lo = firstIndex { $0.end > size }
        if lo < extents.count, extents[lo].offset < size {
            let keep = Int(size - extents[lo].offset)
            byteCount -= extents[lo].count - keep
            if !spilled { extents[lo].bytes.removeSubrange(keep...) }
            extents[lo].count = keep
            lo += 1
        }
        for extent in extents[lo...] { byteCount -= extent.count }
        extents.removeSubrange(lo...)
        cut = min(cut ?? size, size)
        length = size
    }

    /// The file's size, the server's being `serverSize`.
    public func size(serverSize: UInt64) -> UInt64 { length ?? max(serverSize, extentsEnd) }

    /// Whether a read of `count` bytes at `offset` needs the server's bytes: not when they are
    /// all gone (past the cut) or all written here.
    public func needsServer(offset: UInt64, count: Int) -> Bool {
        if let cut, offset >= cut { return false }
        let end = offset.addingReportingOverflow(UInt64(max(count, 0)))
        guard !end.overflow else { return true }
        // Covered by extents that follow each other without a gap?
        var index = firstIndex { $0.end > offset }, covered = offset
        while index < extents.count, extents[index].offset <= covered, covered < end.partialValue {
            covered = extents[index].end
            index += 1
        }
        return covered < end.partialValue
    }

    /// What a read of `count` bytes at `offset` returns, `server` being the server's bytes from
    /// `offset` (short at its end of file; empty when it was not asked). Spilled, `spilled` fills
    /// a buffer with the held bytes from an offset.
    public func read(at offset: UInt64, count: Int, server: UnsafeRawBufferPointer,
                     spilled reader: ((UInt64, UnsafeMutableRawBufferPointer) -> Void)? = nil) -> [UInt8] {
        let fromServer = cut.map { cut in offset >= cut ? 0 : min(server.count, Int(clamping: cut - offset)) } ?? server.count
        let available: UInt64
        if let length {
            available = length > offset ? length - offset : 0
        } else {
            let written = extentsEnd > offset ? extentsEnd - offset : 0
            available = max(UInt64(server.count), written)
        }
        let total = Int(min(UInt64(max(count, 0)), available, UInt64.max - offset))
        guard total > 0 else { return [] }
        var result = [UInt8](repeating: 0, count: total)
        result.withUnsafeMutableBytes { out in
            let serverPart = min(fromServer, total)
            if serverPart > 0 { out.baseAddress!.copyMemory(from: server.baseAddress!, byteCount: serverPart) }
            let end = offset + UInt64(total)
            var index = firstIndex { $0.end > offset }
            while index < extents.count, extents[index].offset < end {
                let extent = extents[index]
                let from = max(extent.offset, offset), to = min(extent.end, end)
                if spilled {
                    reader?(from, UnsafeMutableRawBufferPointer(rebasing: out[Int(from - offset)..<Int(to - offset)]))
                    index += 1
                    continue
                }
                extent.bytes.withUnsafeBytes { bytes in
                    out.baseAddress!.advanced(by: Int(from - offset))
                        .copyMemory(from: bytes.baseAddress!.advanced(by: Int(from - extent.offset)), byteCount: Int(to - from))
                }
                index += 1
            }
        }
        return result
    }

    /// The steps that make the server's file what reads through this state show, each write at
    /// most `maxWrite` bytes.
    public func commitPlan(maxWrite: Int) -> [CommitStep] {
        var steps: [CommitStep] = []
        if let cut { steps.append(.resize(cut)) }
        let chunk = max(1, maxWrite)
        for (index, extent) in extents.enumerated() {
            var start = 0
            while start < extent.count {
                let count = min(chunk, extent.count - start)
                steps.append(.write(extent: index, start: start, count: count, offset: extent.offset + UInt64(start)))
                start += count
            }
        }
        if let length, length > max(cut ?? 0, extentsEnd) { steps.append(.resize(length)) }
        return steps
    }

    /// Whether any held byte lies in `offset..<offset + count`.
    public func holdsAny(offset: UInt64, count: Int) -> Bool {
        guard count > 0, Self.fits(offset: offset, count: count) else { return false }
        let index = firstIndex { $0.end > offset }
        return index < extents.count && extents[index].offset < offset + UInt64(count)
    }

    /// Spilled: records a write whose `count` bytes the caller put at `offset` itself.
    public mutating func recordSpilled(offset: UInt64, count: Int) {
        guard spilled, count > 0, Self.fits(offset: offset, count: count) else { return }
        let end = offset + UInt64(count)
        if let length { self.length = max(length, end) }
        recordRange(offset: offset, end: end)
    }

    /// From now on the caller keeps the bytes (it wrote every extent's at its offset first).
    public mutating func spill() {
        spilled = true
        for index in extents.indices { extents[index].bytes = [] }
    }

    /// Spilled: `offset..<end` is held, merged with the extents it overlaps or touches.
    private mutating func recordRange(offset: UInt64, end: UInt64) {
        let lo = firstIndex { $0.end >= offset }
        var hi = lo
        while hi < extents.count, extents[hi].offset <= end { hi += 1 }
        let start = lo < hi ? min(offset, extents[lo].offset) : offset
        let stop = lo < hi ? max(end, extents[hi - 1].end) : end
        for extent in extents[lo..<hi] { byteCount -= extent.count }
        byteCount += Int(stop - start)
        extents.replaceSubrange(lo..<hi, with: [Extent(offset: start, count: Int(stop - start))])
    }

    /// The index of the first extent for which `isAfter` holds (extents are sorted, and
    /// `isAfter` goes from false to true along them); `extents.count` if none.
    private func firstIndex(where isAfter: (Extent) -> Bool) -> Int {
        var low = 0, high = extents.count
        while low < high {
            let middle = (low + high) / 2
            if isAfter(extents[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
