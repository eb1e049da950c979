import Foundation
import Pebble

/// What a session is set up with: its limits, and what capability tokens and budgets need.
extension ProxySession {
    struct Limits {
        /// The largest msize the gateway will agree to.
        var maxMsize: UInt32 = 1 << 20
        /// Most fids one session may hold.
        var maxFids = 65_536
        /// Most client requests at the server at once; more are held (Tflush never is).
        var maxInFlight = 1_024
        /// Most reply bytes the client's reads at the server may bring (their counts, capped by
        /// msize); more requests are held, but one is always let through. Replies are always read
        /// from the server, so this, not `maxInFlight × msize`, bounds what waits for a client that
        /// does not read.
        var maxReplyBytes = 4 << 20
        /// Most bytes of held requests before the gateway stops reading the client.
        var maxHeldBytes = 4 << 20
        /// The client's msize may be larger than the server's (`--bridge-msize`, `+Bridging`).
        var bridgeMsize = true
    }

    /// What a session with capability tokens needs beyond its limits.
    struct Access {
        /// How tokens are verified and whether one is required; nil: tokens are not configured.
        var tokens: RequestPolicy.TokenPolicy?
        /// The keys and revocations as they are now (reloaded on SIGHUP), read at each attach.
        var currentVerifier: (@Sendable () -> TokenVerifier)?
        /// What the gateway attaches as for a token's session: the export's aname, and the user
        /// when the token names none (nil: the client's).
        var backendAname = ""
        var backendUname: String?
        /// The clock a token's expiry is checked against.
        var now: @Sendable () -> Date = { Date() }
        /// The clock rate limits run on (seconds, monotonic), and their burst (`--burst-s`).
        var monotonicNow: @Sendable () -> Double = { ProxySession.monotonicSeconds() }
        var burstSeconds = 1.0
        /// Seconds a request may be at the server before it is answered EIO and flushed (0: never).
        var backendTimeout = 0.0
        /// Budgets on (`--pebble on`): a token's `fids`, `rate-ops` and `rate-bytes` caveats apply.
        var budgets = true
        /// Blue writes (`--blue on`) and their limit per fid; nil: writes go through.
        var blue: BlueSettings?
        /// Read-ahead (`--read-ahead on`); nil: off.
        var readAhead: ReadAheadSettings?
        /// Where changes to files are counted for read-ahead: the process's (tests give each
        /// session its own, so sessions of other tests cannot drop its reads ahead).
        var fileGenerations = FileGenerations.shared
    }
}
