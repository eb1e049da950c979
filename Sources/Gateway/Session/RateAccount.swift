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

/// The accounts of all identities, shared by every loop: one lock, held for a few arithmetic
/// operations per request. Accounts that owe nothing are forgotten once there are many.
final class SharedRates: Sendable {
    struct Rates: Sendable, Equatable {
        var opsPerSecond: Double?
        var bytesPerSecond: Double?
    }
    /// The rates of an identity without an override, and the overrides (`client-budget`).
    let defaults: Rates
    let overrides: [String: Rates]
    let burstSeconds: Double
    private let accounts = Mutex<[String: RateLimiter]>([:])
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

    /// The account of `key` (an identity), made on first use.
    func account(_ key: String) -> RateAccount { IdentityRate(key: key, shared: self) }

    fileprivate func withLimiter<T>(_ key: String, now: Double, _ body: (inout RateLimiter) -> T) -> T {
        accounts.withLock { accounts in
            if accounts[key] == nil {
                if accounts.count >= Self.forgetAbove {
                    for (other, var limiter) in accounts where limiter.isRested(now: now) { accounts[other] = nil }
                }
                let rates = rates(for: key)
                accounts[key] = RateLimiter(opsPerSecond: rates.opsPerSecond, bytesPerSecond: rates.bytesPerSecond, burstSeconds: burstSeconds, now: now)
            }
            return body(&accounts[key]!)
        }
    }
}

private final class IdentityRate: RateAccount {
    let key: String
    let shared: SharedRates

    init(key: String, shared: SharedRates) {
        self.key = key
        self.shared = shared
    }

    func delay(now: Double) -> Double { shared.withLimiter(key, now: now) { $0.delay(now: now) } }
    func charge(ops: Int, bytes: Int, now: Double) { shared.withLimiter(key, now: now) { $0.charge(ops: ops, bytes: bytes, now: now) } }
    /// A token narrows its session, not every session of its identity.
    func narrow(opsPerSecond: Double?, bytesPerSecond: Double?, now: Double) {}
    var rates: SharedRates.Rates { shared.rates(for: key) }
}
