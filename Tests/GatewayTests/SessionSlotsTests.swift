import Synchronization
import Testing
@testable import Gateway

/// The max-conns count shared by the loops, and the line loops wait in for a freed slot.
@Suite("Session slots")
struct SessionSlotsTests {
    /// Records which loop was woken, in order.
    final class Wakes: Sendable {
        private let log = Mutex<[Int]>([])
        func record(_ loop: Int) { log.withLock { $0.append(loop) } }
        /// The wakes since the last call.
        func take() -> [Int] { log.withLock { log in defer { log.removeAll() }; return log } }
    }

    func make(limit: Int, loops: Int) -> (SessionSlots, Wakes) {
        let slots = SessionSlots(limit: limit)
        let wakes = Wakes()
        for loop in 0..<loops { slots.register(loop: loop) { wakes.record(loop) } }
        return (slots, wakes)
    }

    @Test("slots are taken up to the limit and given back; nobody is woken while nobody waits")
    func limit() {
        let (slots, wakes) = make(limit: 2, loops: 2)
        #expect(slots.take(loop: 0) && slots.take(loop: 1))
        #expect(slots.inUse == 2)
        slots.give()
        #expect(slots.take(loop: 1))
        slots.give()
        slots.give()
        #expect(slots.inUse == 0)
        #expect(wakes.take().isEmpty)
    }

    @Test("a freed slot goes to the loop that waited first, not back to the loop whose session ended")
    func firstComeFirst() {
        let (slots, wakes) = make(limit: 1, loops: 2)
        #expect(slots.take(loop: 0))
        #expect(!slots.take(loop: 1))
        #expect(!slots.take(loop: 0))
        #expect(!slots.take(loop: 1), "waiting twice keeps one place in line")
        #expect(slots.waiting == [1, 0])
        slots.give()  // loop 0's session ended
        #expect(wakes.take() == [1])
        #expect(!slots.take(loop: 0), "the slot is loop 1's")
        #expect(slots.take(loop: 1))
        #expect(slots.waiting == [0])
        slots.give()
        #expect(wakes.take() == [0])
        #expect(slots.take(loop: 0))
        #expect(slots.waiting.isEmpty)
    }

    @Test("when more than one slot is free the next in line is woken as soon as the first takes one")
    func severalFree() {
        let (slots, wakes) = make(limit: 2, loops: 3)
        #expect(slots.take(loop: 0) && slots.take(loop: 0))
        #expect(!slots.take(loop: 1) && !slots.take(loop: 2))
        slots.give()
        slots.give()
        #expect(wakes.take() == [1, 1])
        #expect(slots.take(loop: 1))
        #expect(wakes.take() == [2])
        #expect(slots.take(loop: 2))
        #expect(slots.inUse == 2)
    }

    @Test("a woken loop with nothing to accept gives the slot back, and a loop that stops accepting leaves the line: either way the next is woken")
    func passedOn() {
        let (slots, wakes) = make(limit: 1, loops: 3)
        #expect(slots.take(loop: 0))
        #expect(!slots.take(loop: 1) && !slots.take(loop: 2))
        slots.give()
        #expect(wakes.take() == [1])
        slots.leave(loop: 1)
        #expect(wakes.take() == [2])
        #expect(slots.take(loop: 2))
        slots.give()  // accept found no connection after all
        #expect(wakes.take().isEmpty)
        #expect(slots.take(loop: 0))
    }
}
