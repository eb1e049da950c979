import Testing
@testable import Gateway

@Suite("Frame and idle timeouts")
struct ClientWatchTests {
    let t0 = ContinuousClock.now
    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int(seconds * 1000)) }
    let frame = Duration.seconds(2)
    let idle = Duration.seconds(10)

    @Test("a frame that trickles in is cut off frame-timeout after its first byte, however steadily bytes come")
    func slowloris() {
        var watch = ClientWatch(now: t0)
        watch.clientSentBytes(at: at(0))
        for second in stride(from: 0.5, through: 1.5, by: 0.5) {
            watch.clientSentBytes(at: at(second))
            #expect(watch.verdict(now: at(second), partialFrame: true, requestsAtServer: 0, frameTimeout: frame, idleTimeout: idle) == .fine)
        }
        #expect(watch.verdict(now: at(2), partialFrame: true, requestsAtServer: 0, frameTimeout: frame, idleTimeout: idle) == .frameStalled)
        #expect(watch.verdict(now: at(2), partialFrame: true, requestsAtServer: 0, frameTimeout: .zero, idleTimeout: .zero) == .fine, "0: off")
    }

    @Test("each whole frame starts the clock again; no partial frame, no frame timeout")
    func wholeFrames() {
        var watch = ClientWatch(now: t0)
        for second in 0..<10 {
            watch.clientSentBytes(at: at(Double(second)))
            watch.frameEnded(at: at(Double(second)))
            #expect(watch.verdict(now: at(Double(second) + 1.9), partialFrame: true, requestsAtServer: 1, frameTimeout: frame, idleTimeout: idle) == .fine)
        }
        #expect(watch.verdict(now: at(100), partialFrame: false, requestsAtServer: 1, frameTimeout: frame, idleTimeout: idle) == .fine)
        // A partial frame seen only after a pause (backpressure lifted) is timed from the next check.
        #expect(watch.verdict(now: at(101), partialFrame: true, requestsAtServer: 1, frameTimeout: frame, idleTimeout: idle) == .fine)
    }

    @Test("idle: no byte for idle-timeout and nothing at the server; a request at the server is not idleness")
    func idleSessions() {
        var watch = ClientWatch(now: t0)
        watch.clientSentBytes(at: at(1))
        #expect(watch.verdict(now: at(10.9), partialFrame: false, requestsAtServer: 0, frameTimeout: frame, idleTimeout: idle) == .fine)
        #expect(watch.verdict(now: at(11), partialFrame: false, requestsAtServer: 1, frameTimeout: frame, idleTimeout: idle) == .fine)
        #expect(watch.verdict(now: at(11), partialFrame: false, requestsAtServer: 0, frameTimeout: frame, idleTimeout: idle) == .idle)
        #expect(watch.verdict(now: at(11), partialFrame: false, requestsAtServer: 0, frameTimeout: frame, idleTimeout: .zero) == .fine, "0: off")
    }
}
