/// The clock side of the frame and idle timeouts: when the client last sent bytes, and since when
/// the frame it is sending has been arriving. Time is passed in, so the rules are tested alone.
struct ClientWatch {
    enum Verdict: Equatable {
        case fine
        /// The current frame has been arriving for longer than the frame timeout.
        case frameStalled
        /// No byte from the client and nothing at the server for the idle timeout.
        case idle
    }

    private(set) var lastBytes: ContinuousClock.Instant
    /// When the first byte of the frame now arriving came (nil: no frame in progress).
    private(set) var frameStarted: ContinuousClock.Instant?

    init(now: ContinuousClock.Instant = .now) {
        lastBytes = now
    }

    mutating func clientSentBytes(at now: ContinuousClock.Instant) {
        lastBytes = now
        if frameStarted == nil { frameStarted = now }
    }

    /// A whole frame was taken from the buffer: what follows it starts a new one.
    mutating func frameEnded(at now: ContinuousClock.Instant) {
        frameStarted = now
    }

    /// `partialFrame`: bytes of an incomplete frame wait in the buffer while the gateway would take
    /// frames. A zero timeout is off.
    mutating func verdict(now: ContinuousClock.Instant, partialFrame: Bool, requestsAtServer: Int,
                          frameTimeout: Duration, idleTimeout: Duration) -> Verdict {
        if !partialFrame { frameStarted = nil }
        if partialFrame, frameTimeout > .zero, let started = frameStarted, now - started >= frameTimeout { return .frameStalled }
        if idleTimeout > .zero, requestsAtServer == 0, !partialFrame, now - lastBytes >= idleTimeout { return .idle }
        return .fine
    }
}
