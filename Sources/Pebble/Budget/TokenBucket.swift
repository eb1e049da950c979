/// A token bucket (ops or bytes per second, with a burst): what a rate limit takes from. Time is
/// passed in (seconds on a monotonic clock), so the arithmetic is tested without sleeping.
///
/// Taking more than is there is allowed and leaves the bucket in debt: the caller learns how long
/// to wait before the next take, and one large request (a 1 MiB read under a small rate) is
/// never refused, only followed by a longer pause.
public struct TokenBucket: Sendable, Equatable {
    /// Tokens added per second.
    public let rate: Double
    /// The most tokens the bucket holds: what may be spent at once after a quiet spell.
    public let burst: Double
    public private(set) var tokens: Double
    private var updated: Double

    public init(rate: Double, burst: Double, now: Double) {
        self.rate = rate
        self.burst = max(burst, 1)
        tokens = self.burst
        updated = now
    }

    private mutating func refill(_ now: Double) {
        if now > updated {
            tokens = min(burst, tokens + (now - updated) * rate)
            updated = now
        }
    }

    /// Seconds until the bucket is out of debt (0: a take now goes through at once).
    public mutating func delay(now: Double) -> Double {
        refill(now)
        return tokens >= 0 ? 0 : -tokens / rate
    }

    /// Spends `amount` (going into debt if needed); returns the seconds the caller should wait
    /// before taking again.
    @discardableResult
    public mutating func take(_ amount: Double, now: Double) -> Double {
        refill(now)
        tokens -= amount
        return tokens >= 0 ? 0 : -tokens / rate
    }
}
