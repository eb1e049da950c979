import Foundation
import NineP
import Pebble

/// Rate limits and send times: what happens to a request as it goes to the server, and when a
/// held one may go.
extension ProxySession {
    /// Rate limits (`--rate-ops`, `--rate-bytes`): the accounts each client request is charged to
    /// when it goes to the server, and the clock (seconds, monotonic). Over the rate, requests are
    /// held (a Tflush never is) and the host is asked to wake the session when they may go.
    struct Pacing {
        var accounts: [RateAccount]
        var now: () -> Double
    }

    /// Seconds until the rate limits let the next client request go (0: now).
    var pacingDelay: Double {
        guard let pacing else { return 0 }
        let now = pacing.now()
        var delay = 0.0
        for account in pacing.accounts { delay = max(delay, account.delay(now: now)) }
        return delay
    }

    /// Seconds on the monotonic clock (CLOCK_MONOTONIC, read through the vDSO: a few nanoseconds).
    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
    }

    /// Whether a client request may go to the server now: room there, and within the rates.
    var canSendNow: Bool { roomAtServer && pacingDelay == 0 }

    /// A request goes to the server now: when (for `--backend-timeout` and the reply latency), and
    /// for a client's, its count in bytes (a read's or a write's) to every rate account.
    func sending(_ backendTag: UInt16) {
        tags.setSentAt(backendTag, access.monotonicNow())
        guard let pacing, let request = tags.request(backendTag), request.chargesRates,
              let count = request.countLimit, count > 0 else { return }
        let now = pacing.now()
        for account in pacing.accounts { account.charge(ops: 0, bytes: Int(count), now: now) }
    }

    /// One client request was handled, whatever became of it (sent, held, refused, answered by the
    /// gateway): one operation to every rate account, after it was decided. A flood of requests
    /// the gateway refuses costs it work too, so it is slowed like any other.
    func chargeOperation() {
        guard let pacing else { return }
        let now = pacing.now()
        for account in pacing.accounts { account.charge(ops: 1, bytes: 0, now: now) }
    }

    /// Held requests, or a client whose frames are not read while the rates are in debt, wait for
    /// the rate limits (not for room at the server, which replies make): the host wakes the session
    /// when they may go on. With requests held, never zero: the delay that held one may have run
    /// out by the time it is asked again, and a request held with no wake-up would wait forever.
    func wakeWhenPaced() {
        guard pacing != nil else { return }
        if !held.isEmpty {
            if roomAtServer { host.wake(after: max(pacingDelay, Self.shortestWake)) }
        } else if phase == .active {
            let delay = pacingDelay
            if delay > 0 { host.wake(after: max(delay, Self.shortestWake)) }
        }
    }

    /// The shortest pacing wait. Many sessions of one identity wait on one bucket, and each wakes
    /// when it may go on: a floor keeps them from all waking for every token (each takes all the
    /// tokens there are once awake, and a burst holds far more than this many seconds' worth).
    static let shortestWake = 0.005
}
