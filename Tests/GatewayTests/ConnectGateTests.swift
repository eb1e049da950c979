import Testing
@testable import Gateway

@Suite("ConnectGate")
struct ConnectGateTests {
    @Test("slots up to the limit, then waiters in arrival order; a cancelled waiter is skipped")
    func admission() {
        let gate = ConnectGate(limit: 2)
        #expect(gate.tryAcquire())
        #expect(gate.tryAcquire())
        #expect(!gate.tryAcquire())
        var admitted: [String] = []
        _ = gate.wait { admitted.append("a") }
        let b = gate.wait { admitted.append("b") }
        _ = gate.wait { admitted.append("c") }
        gate.cancel(b)
        gate.release()
        #expect(admitted == ["a"])
        // A free slot goes to a waiter, never to a newcomer jumping the queue.
        #expect(!gate.tryAcquire())
        gate.release()
        #expect(admitted == ["a", "c"])
        gate.release()
        #expect(gate.tryAcquire(), "nobody waits: the slot is free")
        gate.release()
        gate.release()
        #expect(gate.tryAcquire() && gate.tryAcquire() && !gate.tryAcquire())
    }
}
