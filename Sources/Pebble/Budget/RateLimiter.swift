/// Operations and bytes per second (`--rate-ops`, `--rate-bytes`), each a `TokenBucket` whose
/// burst is `burstSeconds` of its rate. A nil rate is no limit.
public struct RateLimiter: Sendable, Equatable {
    public private(set) var ops: TokenBucket?
    public private(set) var bytes: TokenBucket?
    public let burstSeconds: Double

    public init(opsPerSecond: Double?, bytesPerSecond: Double?, burstSeconds: Double, now: Double) {
        self.burstSeconds = burstSeconds
        ops = opsPerSecond.map { TokenBucket(rate: $0, burst: $0 * burstSeconds, now: now) }
        bytes = bytesPerSecond.map { TokenBucket(rate: $0, burst: $0 * burstSeconds, now: now) }
    }

    /// Seconds until both buckets are out of debt.
    public mutating func delay(now: Double) -> Double {
        max(ops?.delay(now: now) ?? 0, bytes?.delay(now: now) ?? 0)
    }

    public mutating func charge(ops count: Int, bytes amount: Int, now: Double) {
        if count > 0 { ops?.take(Double(count), now: now) }
        if amount > 0 { bytes?.take(Double(amount), now: now) }
    }

    /// Lowers the rates to these where they are lower (a token's `rate-ops`, `rate-bytes`).
    public mutating func narrow(opsPerSecond: Double?, bytesPerSecond: Double?, now: Double) {
        if let rate = opsPerSecond, rate < ops?.rate ?? .infinity { ops = TokenBucket(rate: rate, burst: rate * burstSeconds, now: now) }
        if let rate = bytesPerSecond, rate < bytes?.rate ?? .infinity {
            bytes = TokenBucket(rate: rate, burst: rate * burstSeconds, now: now)
        }
    }

    /// Whether nothing is owed and both buckets are full: such an account can be forgotten.
    public mutating func isRested(now: Double) -> Bool {
        _ = delay(now: now)
        return (ops.map { $0.tokens >= $0.burst } ?? true) && (bytes.map { $0.tokens >= $0.burst } ?? true)
    }
}
