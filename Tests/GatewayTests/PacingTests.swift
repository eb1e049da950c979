import Testing
@testable import Gateway
import NineP
import Pebble

/// Rate limits on a session, without sockets or sleeping: the clock is a number the test moves.
@Suite("Rate limits on a session")
struct PacingTests {
    final class Clock: @unchecked Sendable { var now = 0.0 }

    static func paced(ops: Double?, bytes: Double?, clock: Clock) throws -> SessionHarness {
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 1)
        let limiter = RateLimiter(opsPerSecond: ops, bytesPerSecond: bytes, burstSeconds: 1, now: 0)
        harness.session.pacing = .init(accounts: [SessionRate(limiter)], now: { clock.now })
        return harness
    }

    static let getattr = TMessage.getattr(Tgetattr(fid: 1, requestMask: 0x7ff))

    @Test("over --rate-ops requests are held (checked, in order) and go when the host wakes the session; refused requests count too; a Tflush is never held")
    func ops() throws {
        let clock = Clock()
        let harness = try Self.paced(ops: 2, bytes: nil, clock: clock)
        let first = try harness.forward(tag: 2, Self.getattr)
        _ = try harness.forward(tag: 3, Self.getattr)
        #expect(try harness.answeredLocally(tag: 4, Self.getattr).isEmpty, "the third waits: burst of 2")
        #expect(try harness.answeredLocally(tag: 5, .getattr(Tgetattr(fid: 9, requestMask: 1))) == [harness.errorReply(.unknownFid, tag: 5)],
                "a held request's fids are checked at once")
        #expect(harness.host.wakeRequests.last.map { abs($0 - 0.5) < 1e-9 } == true, "woken when one more op is earned")
        // A Tflush goes at once, whatever the rate.
        harness.clientSends(tag: 6, .flush(Tflush(oldtag: 2)))
        #expect(try harness.backendReceived().map(\.message) == [.flush(Tflush(oldtag: first.tag))])
        // Every request counts once decided, the held one and the refused one too: two ops owed
        // past the burst, so one more is earned at 1.5 s, not 0.5 s.
        clock.now = 0.5
        harness.session.sendHeld()
        #expect(try harness.backendReceived().isEmpty, "not yet: the refused request cost an op too")
        #expect(!harness.session.acceptsClientFrames, "the client is not read while the rate is in debt")
        clock.now = 1.5
        harness.session.sendHeld()
        #expect(try harness.backendReceived().map(\.message) == [Self.getattr.withFid(first.message)])
        #expect(harness.session.acceptsClientFrames, "the held request was paid for when it came")
    }

    @Test("--rate-bytes charges each read's and write's count; one large read is not refused, the next waits longer")
    func bytes() throws {
        let clock = Clock()
        let harness = try Self.paced(ops: nil, bytes: 1000, clock: clock)
        let walk = try harness.forward(tag: 2, .walk(Twalk(fid: 1, newfid: 2, wnames: ["f"])))
        harness.backendSends(tag: walk.tag, .walk(Rwalk(wqids: [SessionHarness.fileQid])))
        _ = try harness.clientReceived()
        let open = try harness.forward(tag: 3, .lopen(Tlopen(fid: 2, flags: 0)))
        harness.backendSends(tag: open.tag, .lopen(Rlopen(qid: SessionHarness.fileQid, iounit: 0)))
        _ = try harness.clientReceived()
        _ = try harness.forward(tag: 4, .read(Tread(fid: 2, offset: 0, count: 4000)))
        #expect(try harness.answeredLocally(tag: 5, .read(Tread(fid: 2, offset: 4000, count: 10))).isEmpty)
        // 1000 of burst, 4000 spent: 3000 owed, 3.001 s until a token (byte) is there again.
        #expect(harness.host.wakeRequests.last.map { abs($0 - 3.001) < 1e-9 } == true, "\(harness.host.wakeRequests)")
        clock.now = 3
        harness.session.sendHeld()
        #expect(try harness.backendReceived().isEmpty)
        clock.now = 3.01
        harness.session.sendHeld()
        #expect(try harness.backendReceived().count == 1)
    }
}

private extension TMessage {
    /// This getattr with the fid a forwarded one was given (the backend's number).
    func withFid(_ forwarded: TMessage) -> TMessage {
        guard case let .getattr(sent) = forwarded, case let .getattr(mine) = self else { return self }
        return .getattr(Tgetattr(fid: sent.fid, requestMask: mine.requestMask))
    }
}

@Suite("Identity rate buckets")
struct IdentityBucketTests {
    @Test("sessions of one identity share one bucket; a bucket is kept while sessions use it, and its debt outlives them")
    func sharedAndKept() {
        let rates = SharedRates(.init(opsPerSecond: 10, bytesPerSecond: nil), burstSeconds: 1)
        var first: RateAccount? = rates.account("addr:a", now: 0)
        let second = rates.account("addr:a", now: 0)
        #expect(rates.sessionsByIdentity == ["addr:a": 2])
        first?.charge(ops: 15, bytes: 0, now: 0)
        #expect(abs(second.delay(now: 0) - 0.6) < 1e-9, "one bucket: 5 owed, 1 more needed, at 10/s")
        first = nil
        #expect(rates.sessionsByIdentity == ["addr:a": 1])
        _ = first
        withExtendedLifetime(second) {}
        // Reconnecting does not reset the debt: the bucket outlives its sessions.
        let again = rates.account("addr:a", now: 0.1)
        #expect(again.delay(now: 0.1) > 0.4)
    }
}
