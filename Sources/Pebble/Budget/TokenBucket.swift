/// A token bucket (ops or bytes per second, with a burst): what a rate limit takes from. Time is
/// passed in (seconds on a monotonic clock), so the arithmetic is tested without sleeping.
///
/// A take goes through while the bucket holds at least one token; taking more than is there is
/// allowed and leaves the bucket in debt, so one large request (a 1 MiB read under a small rate)
/// is never refused, only followed by a longer pause.
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

    /// Seconds until the bucket holds a token again (0: a take now goes through at once).
    public mutating func delay(now: Double) -> Double {
        refill(now)
        return tokens >= 1 ? 0 : (1 - tokens) / rate
    }

    /// Spends `amount` (going into debt if needed); returns the seconds the caller should wait
    /// before taking again.
    @discardableResult
    public mutating func take(_ amount: Double, now: Double) -> Double {
        refill(now)
        tokens -= amount
        return delay(now: now)
    }
}
