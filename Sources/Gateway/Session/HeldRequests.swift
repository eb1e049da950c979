/// Client requests the session has checked and registered (fids reserved, backend tag given) but
/// not yet sent, because the server already has as many as the limits allow. They go out in
/// arrival order as replies make room; a Tflush, which is never held, can take one out.
///
/// Holding, rather than no longer reading the client, is what lets a Tflush through when every
/// request at the server is blocked (reads of a FIFO, say): the client can still interrupt them.
struct HeldRequests {
    private var frames: [(tag: UInt16, bytes: [UInt8])] = []
    private var head = 0
    /// The bytes of every frame held.
    private(set) var bytes = 0

    var isEmpty: Bool { head == frames.count }

    /// The backend tag of the request that goes out next.
    var firstTag: UInt16? { isEmpty ? nil : frames[head].tag }

    mutating func append(tag: UInt16, frame: UnsafeRawBufferPointer) {
        frames.append((tag, Array(frame)))
        bytes &+= frame.count
    }

    /// Takes the first frame out, to be sent.
    mutating func removeFirst() -> [UInt8]? {
        guard !isEmpty else { return nil }
        let frame = frames[head].bytes
        frames[head].bytes = []
        head &+= 1
        bytes &-= frame.count
        if head == frames.count {
            frames.removeAll(keepingCapacity: frames.count <= 64)
            head = 0
        } else if head >= 64 && head * 2 >= frames.count {
            frames.removeFirst(head)
            head = 0
        }
        return frame
    }

    /// Takes out the request with this backend tag (it was flushed); false when none is held.
    mutating func remove(tag: UInt16) -> Bool {
        guard let index = frames[head...].firstIndex(where: { $0.tag == tag }) else { return false }
        bytes &-= frames[index].bytes.count
        frames.remove(at: index)
        return true
    }

    /// Every held backend tag, in order, and forgets them all.
    mutating func removeAll() -> [UInt16] {
        let tags = frames[head...].map(\.tag)
        frames.removeAll()
        head = 0
        bytes = 0
        return tags
    }
}
