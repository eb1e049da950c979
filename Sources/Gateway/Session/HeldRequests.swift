/// Client requests the session has checked and registered (fids reserved, backend tag given) but
/// not yet sent, because the server already has as many as the limits allow. They go out in
/// arrival order as replies make room; a Tflush, which is never held, can take one out.
///
/// Holding, rather than no longer reading the client, is what lets a Tflush through when every
/// request at the server is blocked (reads of a FIFO, say): the client can still interrupt them,
/// as long as what it sent before the Tflush fits in the session's bound for held bytes.
///
/// Every operation is O(1) (amortised): entries are numbered in arrival order, and one taken out
/// by a flush leaves a gap that `popFirst` steps over.
struct HeldRequests {
    private var frames: [UInt64: (tag: UInt16, bytes: [UInt8])] = [:]
    private var numberOfTag: [UInt16: UInt64] = [:]
    /// The number of the oldest entry that may still be held, and of the next one to come.
    private var first: UInt64 = 0
    private var next: UInt64 = 0
    /// The bytes of every frame held.
    private(set) var bytes = 0

    var isEmpty: Bool { frames.isEmpty }

    mutating func append(tag: UInt16, frame: UnsafeRawBufferPointer) {
        frames[next] = (tag, Array(frame))
        numberOfTag[tag] = next
        next &+= 1
        bytes &+= frame.count
    }

    /// Takes out the oldest request, to be sent.
    mutating func popFirst() -> (tag: UInt16, bytes: [UInt8])? {
        while first < next {
            let number = first
            first &+= 1
            if let entry = frames.removeValue(forKey: number) {
                numberOfTag[entry.tag] = nil
                bytes &-= entry.bytes.count
                return entry
            }
        }
        return nil
    }

    /// Takes out the request with this backend tag (it was flushed); false when none is held.
    mutating func remove(tag: UInt16) -> Bool {
        guard let number = numberOfTag.removeValue(forKey: tag), let entry = frames.removeValue(forKey: number) else {
            return false
        }
        bytes &-= entry.bytes.count
        return true
    }

    /// Every held backend tag, oldest first, and forgets them all.
    mutating func removeAll() -> [UInt16] {
        let tags = frames.sorted { $0.key < $1.key }.map(\.value.tag)
        frames.removeAll()
        numberOfTag.removeAll()
        first = next
        bytes = 0
        return tags
    }
}
