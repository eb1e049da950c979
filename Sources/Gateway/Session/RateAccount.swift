import Pebble
import Synchronization

/// What a session's requests are charged to for rate limits: its own account, and its identity's,
/// shared with that identity's other sessions on every loop.
protocol RateAccount: AnyObject {
    func delay(now: Double) -> Double
    func charge(ops: Int, bytes: Int, now: Double)
    func narrow(opsPerSecond: Double?, bytesPerSecond: Double?, now: Double)
    /// The rates it holds to (nil: no limit), for `/sessions`.
    var rates: SharedRates.Rates { get }
}

/// One session's own account (its loop's thread only).
final class SessionRate: RateAccount {
    private var limiter: RateLimiter

    init(_ limiter: RateLimiter) { self.limiter = limiter }

    func delay(now: Double) -> Double { limiter.delay(now: now) }
    func charge(ops: Int, bytes: Int, now: Double) { limiter.charge(ops: ops, bytes: bytes, now: now) }
    func narrow(opsPerSecond: Double?, bytesPerSecond: Double?, now: Double) {
        limiter.narrow(opsPerSecond: opsPerSecond, bytesPerSecond: bytesPerSecond, now: now)
    }
    var rates: SharedRates.Rates { .init(opsPerSecond: limiter.ops?.rate, bytesPerSecond: limiter.bytes?.rate) }
}

/// The accounts of all identities, shared by every loop. Each identity's bucket has a lock of its
/// own, which its sessions hold a reference to: a request takes that lock for a few arithmetic
/// operations, and no dictionary lookup. The table's lock is taken only when a session starts or
/// ends. A bucket no session uses is kept while it owes anything (so reconnecting does not reset a
/// debt), and forgotten once rested when there are many.
final class SharedRates: Sendable {
    struct Rates: Sendable, Equatable {
        var opsPerSecond: Double?
        var bytesPerSecond: Double?
    }
    /// The rates of an identity without an override, and the overrides (`client-budget`).
    let defaults: Rates
    let overrides: [String: Rates]
    let burstSeconds: Double
    private let buckets = Mutex<[String: (bucket: IdentityBucket, sessions: Int)]>([:])
    static let forgetAbove = 10_000

    init(_ defaults: Rates, overrides: [String: Rates] = [:], burstSeconds: Double) {
        self.defaults = defaults
        self.overrides = overrides
        self.burstSeconds = burstSeconds
    }

    /// The rates of `key`, for its identity's account and for each of its sessions' own.
    func rates(for key: String) -> Rates { overrides[key] ?? defaults }

    /// A session's own account, at its identity's rates.
    func sessionAccount(_ key: String, now: Double) -> RateAccount {
        let rates = rates(for: key)
        return SessionRate(RateLimiter(opsPerSecond: rates.opsPerSecond, bytesPerSecond: rates.bytesPerSecond, burstSeconds: burstSeconds, now: now))
    }

    /// The account of `key` (an identity) for one session, its bucket made on first use; given
    /// back when the session lets go of it.
    func account(_ key: String, now: Double = ProxySession.monotonicSeconds()) -> RateAccount {
        let bucket = buckets.withLock { buckets -> IdentityBucket in
            if var entry = buckets[key] {
                entry.sessions += 1
                buckets[key] = entry
                return entry.bucket
            }
            if buckets.count >= Self.forgetAbove {
                for (other, entry) in buckets where entry.sessions == 0 && entry.bucket.limiter.withLock({ $0.isRested(now: now) }) {
                    buckets[other] = nil
                }
            }
            let rates = rates(for: key)
            let bucket = IdentityBucket(RateLimiter(opsPerSecond: rates.opsPerSecond, bytesPerSecond: rates.bytesPerSecond,
                                                    burstSeconds: burstSeconds, now: now))
            buckets[key] = (bucket, 1)
            return bucket
        }
        return IdentityRate(key: key, bucket: bucket, shared: self)
    }

    fileprivate func release(_ key: String) {
        buckets.withLock { buckets in
            guard var entry = buckets[key] else { return }
            entry.sessions = max(0, entry.sessions - 1)
            buckets[key] = entry
        }
    }

    /// Identities with a bucket, and how many sessions use each (for tests).
    var sessionsByIdentity: [String: Int] { buckets.withLock { $0.mapValues(\.sessions) } }
}

/// One identity's rate limiter, shared by its sessions on every loop.
final class IdentityBucket: Sendable {
    let limiter: Mutex<RateLimiter>
    init(_ limiter: RateLimiter) { self.limiter = Mutex(limiter) }
}

private final class IdentityRate: RateAccount {
    let key: String
    let bucket: IdentityBucket
    let shared: SharedRates

    init(key: String, bucket: IdentityBucket, shared: SharedRates) {
        self.key = key
        self.bucket = bucket
        self.shared = shared
    }

    deinit { shared.release(key) }

    func delay(now: Double) -> Double { bucket.limiter.withLock { $0.delay(now: now) } }
    func charge(ops: Int, bytes: Int, now: Double) { bucket.limiter.withLock { $0.charge(ops: ops, bytes: bytes, now: now) } }
    /// A token narrows its session, not every session of its identity.
    func narrow(opsPerSecond: Double?, bytesPerSecond: Double?, now: Double) {}
    var rates: SharedRates.Rates { shared.rates(for: key) }
}
