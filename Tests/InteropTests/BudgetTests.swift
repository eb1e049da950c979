import Foundation
import NineP
import Testing

extension Interop {
    /// Per-session budgets through the gateway in front of a real diod.
    @Suite struct Budgets {
        @Test("fid floods: 100 clients each cloning fids past --max-fids 50 all get EDQUOT, none is disconnected, a well-behaved client is served throughout, every fid is clunked after")
        func fidFlood() throws {
            let fixture = try DiodBehindGateway("fid-flood", extra: ["--max-fids", "50"])
            defer { fixture.stop() }
            let good = try fixture.attachedClient()
            var flooders = try (0..<100).map { _ in try fixture.attachedClient() }
            var quotaReplies = 0
            var goodAnswers = 0
            // Fid 1 is the attach: 49 clones fit, the next ones do not.
            for newfid in UInt32(2)...55 {
                for client in flooders {
                    let reply = try client.rpc(.walk(Twalk(fid: 1, newfid: newfid, wnames: [])), tag: 5)
                    if newfid <= 50 {
                        guard case .walk = reply else { throw MissingTool(description: "clone \(newfid) refused: \(reply)") }
                    } else if reply == .lerror(Rlerror(ecode: 122)) {
                        quotaReplies += 1
                    }
                }
                if case .getattr = try good.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), tag: 6) { goodAnswers += 1 }
            }
            #expect(quotaReplies == 100 * 5, "every clone past the budget gets EDQUOT")
            #expect(goodAnswers == 54, "the well-behaved client was answered every time")
            // None was disconnected: each still works within its budget (clunk one, clone again).
            for client in flooders {
                #expect(try client.rpc(.clunk(Tclunk(fid: 50)), tag: 7) == .clunk(Rclunk()))
                guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 50, wnames: [])), tag: 8) else {
                    throw MissingTool(description: "a flooder could not clone within its budget")
                }
            }
            let log = fixture.gateway.process
            #expect(logLines(log, "closing client connection").isEmpty, "no session was closed by the gateway")
            // Leaving, every flooder's fids are clunked at diod.
            let peers = Set(flooders.map(\.localAddress))
            flooders.removeAll()
            let closedClean = {
                logLines(log, "session closed", "backend_fids_left=0").filter { line in peers.contains { line.contains("peer=\($0) ") } }.count
            }
            #expect(waitFor(20) { closedClean() == 100 }, "\(closedClean()) of 100 closed with every fid clunked")
            #expect(try good.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), tag: 9) != .lerror(Rlerror(ecode: 5)))
        }
    }
}
