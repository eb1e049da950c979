import Testing
@testable import Gateway

@Suite("HeldRequests")
struct HeldRequestsTests {
    static func hold(_ held: inout HeldRequests, tag: UInt16, size: Int = 10) {
        let frame = [UInt8](repeating: UInt8(truncatingIfNeeded: tag), count: size)
        frame.withUnsafeBytes { held.append(tag: tag, frame: $0) }
    }

    @Test("frames come out oldest first, flushed ones skipped, with their bytes counted")
    func order() {
        var held = HeldRequests()
        for tag in UInt16(1)...5 { Self.hold(&held, tag: tag, size: Int(tag)) }
        #expect(held.bytes == 15)
        let removed = [held.remove(tag: 2), held.remove(tag: 4), held.remove(tag: 4)]
        #expect(removed == [true, true, false], "the second removal of 4 finds nothing")
        #expect(held.bytes == 9)
        var out: [UInt16] = []
        while let next = held.popFirst() {
            #expect(next.bytes == [UInt8](repeating: UInt8(next.tag), count: Int(next.tag)))
            out.append(next.tag)
        }
        #expect(out == [1, 3, 5])
        #expect(held.isEmpty && held.bytes == 0)
    }

    @Test("a tag taken out and used again is held again at the back, not in its old place")
    func tagReuse() {
        var held = HeldRequests()
        Self.hold(&held, tag: 7)
        Self.hold(&held, tag: 8)
        let removed = held.remove(tag: 7)
        #expect(removed)
        Self.hold(&held, tag: 9)
        Self.hold(&held, tag: 7)
        var out: [UInt16] = []
        while let next = held.popFirst() { out.append(next.tag) }
        #expect(out == [8, 9, 7])
    }

    @Test("removeAll gives every held tag, oldest first, and leaves nothing")
    func removeAll() {
        var held = HeldRequests()
        for tag: UInt16 in [30, 10, 20] { Self.hold(&held, tag: tag) }
        let removed = held.remove(tag: 10)
        let all = held.removeAll()
        let afterwards = held.popFirst()
        #expect(removed && all == [30, 20])
        #expect(held.isEmpty && held.bytes == 0 && afterwards == nil)
        Self.hold(&held, tag: 10)
        let again = held.popFirst()
        #expect(again?.tag == 10)
    }

    @Test("flushing 30 000 held requests from the back costs one step each")
    func manyRemovals() {
        var held = HeldRequests()
        for tag in UInt16(0)..<30_000 { Self.hold(&held, tag: tag, size: 1) }
        var removed = 0
        for tag in (UInt16(1)..<30_000).reversed() where held.remove(tag: tag) { removed += 1 }
        let first = held.popFirst()
        #expect(removed == 29_999 && first?.tag == 0)
        #expect(held.isEmpty)
    }
}
