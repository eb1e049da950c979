/// A growable byte queue in one contiguous allocation: bytes are appended at the end and consumed
/// from the front. Frames are parsed and rewritten in place, and written to a socket from here,
/// so a payload is copied once between the two sockets and never decoded.
final class ByteBuffer {
    private(set) var storage: UnsafeMutableRawBufferPointer
    /// First unconsumed byte.
    private(set) var readIndex = 0
    /// One past the last byte written.
    private(set) var writeIndex = 0

    init(capacity: Int) {
        storage = .allocate(byteCount: max(capacity, 64), alignment: 16)
    }

    deinit { storage.deallocate() }

    var count: Int { writeIndex &- readIndex }
    var isEmpty: Bool { readIndex == writeIndex }
    var capacity: Int { storage.count }

    /// The unconsumed bytes, mutable so that a frame can be rewritten before it is forwarded.
    var readable: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: storage[readIndex..<writeIndex])
    }

    /// Free space at the end, for `read(2)` to fill.
    var writable: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: storage[writeIndex..<storage.count])
    }

    func consume(_ count: Int) {
        precondition(count >= 0 && count <= self.count)
        readIndex &+= count
        if readIndex == writeIndex {
            readIndex = 0
            writeIndex = 0
        }
    }

    /// Records that `count` bytes were written into `writable`.
    func commitWrite(_ count: Int) {
        precondition(count >= 0 && writeIndex &+ count <= storage.count)
        writeIndex &+= count
    }

    /// Makes room for at least `extra` more bytes at the end, moving unconsumed bytes to the front
    /// first and growing only if that is not enough.
    func reserve(_ extra: Int) {
        if storage.count &- writeIndex >= extra { return }
        if readIndex > 0 {
            let live = count
            if live > 0 {
                storage.baseAddress!.copyMemory(from: storage.baseAddress! + readIndex, byteCount: live)
            }
            readIndex = 0
            writeIndex = live
            if storage.count &- writeIndex >= extra { return }
        }
        var newCapacity = storage.count
        while newCapacity &- writeIndex < extra { newCapacity &*= 2 }
        let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: newCapacity, alignment: 16)
        if writeIndex > 0 {
            grown.baseAddress!.copyMemory(from: storage.baseAddress!, byteCount: writeIndex)
        }
        storage.deallocate()
        storage = grown
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        reserve(bytes.count)
        (storage.baseAddress! + writeIndex).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        writeIndex &+= bytes.count
    }

    func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Returns the buffer to a small size after a burst, so an idle session does not hold a large one.
    func shrinkIfIdle(to capacity: Int) {
        guard isEmpty, storage.count > capacity else { return }
        storage.deallocate()
        storage = .allocate(byteCount: capacity, alignment: 16)
        readIndex = 0
        writeIndex = 0
    }
}
