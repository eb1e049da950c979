import Pebble
import Testing

@Suite struct BudgetTests {
    @Test("byte counts: plain, K/M/G/T (powers of 1024), an optional B or iB; anything else refused")
    func byteCounts() {
        #expect(ByteCount.parse("65536") == 65536)
        #expect(ByteCount.parse("64K") == 65536 && ByteCount.parse("64k") == 65536)
        #expect(ByteCount.parse("256M") == 256 << 20 && ByteCount.parse("256MiB") == 256 << 20 && ByteCount.parse("256MB") == 256 << 20)
        #expect(ByteCount.parse("1G") == 1 << 30 && ByteCount.parse("2T") == 2 << 40)
        for bad in ["", "M", "-1", "1.5G", "12X", "1 G", "99999999999999999999", "9000000000000T", "B"] {
            #expect(ByteCount.parse(bad) == nil, "\(bad)")
        }
        #expect(ByteCount.format(256 << 20) == "256M" && ByteCount.format(1000) == "1000" && ByteCount.format(0) == "0")
    }

    @Test("a token bucket lets a burst through, then spends at its rate; debt is paid back in time, never refused")
    func bucket() {
        var bucket = TokenBucket(rate: 100, burst: 50, now: 0)
        #expect(bucket.take(49, now: 0) == 0, "the burst goes at once, one token is left")
        #expect(abs(bucket.take(10, now: 0) - 0.1) < 1e-9, "10 more: 9 owed, 0.1 s until a token is there again")
        #expect(abs(bucket.delay(now: 0.05) - 0.05) < 1e-9)
        #expect(bucket.delay(now: 0.1) == 0)
        // A quiet spell refills only up to the burst.
        #expect(bucket.delay(now: 100) == 0 && bucket.tokens == 50)
        // One large take is allowed and followed by a long wait.
        #expect(abs(bucket.take(1049, now: 100) - 10) < 1e-9)
        // Time going backwards changes nothing.
        #expect(abs(bucket.delay(now: 50) - 10) < 1e-9)
    }

    @Test("a ledger never passes its limit, and any sequence of reservations released returns it to zero")
    func ledger() {
        var ledger = Ledger(limit: 100)
        #expect(ledger.reserve(60) && !ledger.reserve(41) && ledger.reserve(40) && !ledger.reserve(1))
        ledger.release(100)
        #expect(ledger.used == 0 && !ledger.reserve(-1))
        // Property: random reserves and the releases of those that succeeded, in random order.
        var random = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var ledger = Ledger(limit: Int.random(in: 0...10_000, using: &random))
            var granted: [Int] = []
            for _ in 0..<100 {
                let amount = Int.random(in: 0...500, using: &random)
                if ledger.reserve(amount) { granted.append(amount) }
                #expect(ledger.used <= ledger.limit)
                if !granted.isEmpty && Bool.random(using: &random) {
                    ledger.release(granted.remove(at: Int.random(in: 0..<granted.count, using: &random)))
                }
            }
            for amount in granted.shuffled(using: &random) { ledger.release(amount) }
            #expect(ledger.used == 0)
        }
    }
}
