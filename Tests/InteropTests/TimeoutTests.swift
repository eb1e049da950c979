import Foundation
import NineP
import Testing

extension Interop {
    /// `--frame-timeout` and `--idle-timeout` through the gateway in front of a real diod.
    @Suite struct Timeouts {
        /// Bytes of a Tgetattr of fid 1 (19 bytes), for sending in pieces.
        static let getattr = Frame(tag: 7, message: TMessage.getattr(Tgetattr(fid: 1, requestMask: 0x7ff))).encode(dialect: .linux)

        @Test("--frame-timeout: a frame that stops half way, and one that trickles in a byte at a time, are cut off; another client is served throughout")
        func slowFrames() throws {
            let fixture = try DiodBehindGateway("frame-timeout", extra: ["--frame-timeout", "1"])
            defer { fixture.stop() }
            let stalled = try fixture.attachedClient()
            try stalled.sendRaw(Array(Self.getattr.prefix(9)))
            let trickler = try fixture.attachedClient()
            let good = try fixture.attachedClient()
            let started = Date()
            var trickled = 0
            var answered = 0
            // For 3 s: the trickler sends one byte every 250 ms (its 19 bytes would take 4.75 s), the
            // good client does getattrs.
            while Date().timeIntervalSince(started) < 3 {
                if trickled < Self.getattr.count, Date().timeIntervalSince(started) >= Double(trickled) * 0.25 {
                    try? trickler.sendRaw([Self.getattr[trickled]])
                    trickled += 1
                }
                if case .getattr = try good.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), tag: 2) { answered += 1 }
                usleep(50_000)
            }
            let log = fixture.gateway.process
            #expect(waitFor(5) { logLines(log, "session closed", "frame-timeout").count == 2 }, "\(log.log.suffix(2500))")
            #expect(try stalled.receive() == nil && trickler.receive() == nil, "both connections closed")
            #expect(answered > 20, "the good client was served throughout (\(answered) getattrs)")
            #expect(try good.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), tag: 3) != .lerror(Rlerror(ecode: 5)))
            #expect(logLines(log, "session closed", "frame-timeout").allSatisfy { $0.contains("backend_fids_left=0") })
        }

        @Test("--idle-timeout: a client that sends nothing is closed (its fids clunked); one with a request blocked at the server is not idle")
        func idleSessions() throws {
            let fixture = try DiodBehindGateway("idle-timeout", extra: ["--idle-timeout", "1"])
            defer { fixture.stop() }
            let (blocked, fifo) = try fixture.clientBlockedOnFIFO()
            let idle = try fixture.attachedClient()
            let idlePeer = idle.localAddress
            let log = fixture.gateway.process
            #expect(waitFor(5) { !logLines(log, "session closed", "peer=\(idlePeer)", "idle-timeout").isEmpty }, "\(log.log.suffix(2000))")
            #expect(logLines(log, "session closed", "peer=\(idlePeer)").first?.contains("backend_fids_left=0") == true)
            #expect(try idle.receive() == nil)
            // The blocked client was just as quiet for as long, but its open is at the server.
            #expect(logLines(log, "session closed", "peer=\(blocked.localAddress)").isEmpty)
            #expect(fixture.releaseFIFO(fifo))
            guard case .lopen = try blocked.receive()?.message else {
                Issue.record("the blocked open was not answered")
                return
            }
        }

        @Test("--backend-timeout: an open blocked at diod (a FIFO) gets EIO in time and diod a Tflush; diod answers the flush only when the open ends, so the session then ends, with every fid clunked")
        func backendTimeout() throws {
            let fixture = try DiodBehindGateway("backend-timeout", extra: ["--backend-timeout", "1"])
            defer { fixture.stop() }
            let (blocked, fifo) = try fixture.clientBlockedOnFIFO()
            let started = Date()
            guard case let .lerror(error)? = try blocked.receive()?.message else {
                Issue.record("no error for the blocked open")
                return
            }
            #expect(error.ecode == 5 && Date().timeIntervalSince(started) < 5)
            let log = fixture.gateway.process
            #expect(waitFor(10) { !logLines(log, "closing client connection", "backend-timeout").isEmpty }, "\(log.log.suffix(2000))")
            // The open at diod still blocks: releasing it lets the drain clunk the fids.
            #expect(fixture.releaseFIFO(fifo))
            #expect(waitFor(10) { logLines(log, "session closed", "backend-timeout").first?.contains("backend_fids_left=0") == true },
                    "\(log.log.suffix(1500))")
            let other = try fixture.attachedClient()
            #expect(try other.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), tag: 2) != .lerror(Rlerror(ecode: 5)))
        }
    }
}
