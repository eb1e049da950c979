import Testing
import TestSupport
@testable import Gateway

/// Which loop a new connection goes to: the kernel's SO_REUSEPORT choice, evened out.
@Suite("Loop balance")
struct LoopBalanceTests {
    func make(loops: Int) -> (LoopBalance<Int>, SessionSlotsTests.Wakes) {
        let balance = LoopBalance<Int>(loops: loops)
        let wakes = SessionSlotsTests.Wakes()
        for loop in 0..<loops { balance.register(loop: loop) { wakes.record(loop) } }
        return (balance, wakes)
    }

    @Test("four connections the kernel gives one loop end two and two; a tie stays where it was accepted, unwoken")
    func evensOut() {
        let (balance, wakes) = make(loops: 2)
        #expect(balance.place(1, acceptedBy: 0) == 1)
        #expect(balance.place(2, acceptedBy: 0) == nil)
        #expect(wakes.take() == [1])
        #expect(balance.take(loop: 1) == [2])
        #expect(balance.place(3, acceptedBy: 0) == 3)
        #expect(balance.place(4, acceptedBy: 0) == nil)
        #expect(balance.take(loop: 1) == [4])
        #expect(balance.take(loop: 1).isEmpty)
        #expect(balance.counts == [2, 2])
        #expect(wakes.take() == [1])
    }

    @Test("a connection goes to the first loop with the fewest; an ended one makes room where it was")
    func fewest() {
        let (balance, wakes) = make(loops: 3)
        #expect(balance.place(1, acceptedBy: 1) == 1)
        #expect(balance.place(2, acceptedBy: 1) == nil)
        #expect(balance.place(3, acceptedBy: 1) == nil)
        #expect(wakes.take() == [0, 2])
        #expect(balance.counts == [1, 1, 1])
        balance.finished(loop: 2)
        #expect(balance.place(4, acceptedBy: 0) == nil)
        #expect(balance.take(loop: 2) == [3, 4])
        #expect(balance.counts == [1, 1, 1])
    }

    @Test("a loop that left is never handed a connection, and gets back what it had not taken")
    func leaving() {
        let (balance, wakes) = make(loops: 2)
        #expect(balance.place(1, acceptedBy: 0) == 1)
        #expect(balance.place(2, acceptedBy: 0) == nil)
        #expect(balance.leave(loop: 1) == [2])
        #expect(balance.counts == [1, 0])
        #expect(balance.place(3, acceptedBy: 0) == 3)
        #expect(balance.place(4, acceptedBy: 0) == 4)
        #expect(balance.counts == [3, 0])
        #expect(wakes.take() == [1])
    }

    @Test("random accepts and ends over four loops: each lands on a loop that had the fewest, the counts match what each loop owns, and every connection is owned once")
    func model() {
        let seed = testSeed("loop balance")
        var generator = SplitMix64(seed: seed)
        let (balance, _) = make(loops: 4)
        var owned: [[Int]] = Array(repeating: [], count: 4)
        var next = 0
        for _ in 0..<2000 {
            let loop = generator.below(4)
            if generator.below(3) > 0 || owned.allSatisfy(\.isEmpty) {
                next += 1
                // The loops with the fewest before this accept: the connection must land on one.
                let fewest = owned.map(\.count).min()!
                if let kept = balance.place(next, acceptedBy: loop) {
                    owned[loop].append(kept)
                    #expect(owned[loop].count - 1 == fewest, "seed \(seed)")
                }
                for other in 0..<4 { owned[other] += balance.take(loop: other) }
            } else if let from = (0..<4).filter({ !owned[$0].isEmpty }).randomElement(using: &generator) {
                owned[from].remove(at: generator.below(owned[from].count))
                balance.finished(loop: from)
            }
            #expect(balance.counts == owned.map(\.count), "seed \(seed)")
        }
        #expect(Set(owned.joined()).count == owned.joined().count, "seed \(seed)")
    }
}
