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

    /// Seconds on the monotonic clock since the process started.
    static func monotonicSeconds() -> Double {
        let elapsed = ContinuousClock.now - Self.clockStart
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
    private static let clockStart = ContinuousClock.now

    /// Whether a client request may go to the server now: room there, and within the rates.
    var canSendNow: Bool { roomAtServer && pacingDelay == 0 }

    /// A request goes to the server now: when (for `--backend-timeout` and the reply latency), and
    /// for a client's, one operation and its count in bytes (a read's or a write's) to every rate account.
    func sending(_ backendTag: UInt16) {
        tags.setSentAt(backendTag, access.monotonicNow())
        guard let pacing, let request = tags.request(backendTag), case .client = request.origin, request.type != .Tflush else { return }
        let now = pacing.now()
        for account in pacing.accounts { account.charge(ops: 1, bytes: Int(request.countLimit ?? 0), now: now) }
    }

    /// Requests wait for the rate limits (not for room at the server, which replies make): the host
    /// wakes the session when the first may go. Never zero: the delay that held a request may have
    /// run out by the time it is asked again, and a request held with no wake-up would wait forever.
    func wakeWhenPaced() {
        guard pacing != nil, !held.isEmpty, roomAtServer else { return }
        host.wake(after: max(pacingDelay, 0.001))
    }
}
