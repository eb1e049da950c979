import Foundation
import NineP
import Testing

extension Interop {
    /// `--quota` and `--max-memory` through the gateway in front of a real diod.
    @Suite struct Quota {
        /// A client attached with fid 2 open for reading on `name` in the fixture's export.
        static func reader(_ fixture: DiodBehindGateway, _ name: String) throws -> RawClient {
            let client = try fixture.attachedClient()
            guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: [WireString(name)])), tag: 2),
                  case .lopen = try client.rpc(.lopen(Tlopen(fid: 2, flags: 0)), tag: 3) else {
                throw MissingTool(description: "cannot open \(name)")
            }
            return client
        }

        static func read(_ count: UInt32) -> TMessage { .read(Tread(fid: 2, offset: 0, count: count)) }

        @Test("--quota: reads past one client's quota, over two sessions, get EDQUOT and a BUDGET_EXCEEDED event and never reach diod; the sessions go on, are served once replies come, and /metrics shows bytes held back at zero")
        func quota() throws {
            let port = freePort()
            let audit = FileManager.default.temporaryDirectory.appendingPathComponent("quota-audit-\(getpid()).jsonl").path
            defer { try? FileManager.default.removeItem(atPath: audit) }
            let fixture = try DiodBehindGateway("quota", extra: ["--quota", "300K", "--metrics", "127.0.0.1:\(port)", "--audit", audit])
            defer { fixture.stop() }
            let data = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            try Data(data).write(to: fixture.directory.appendingPathComponent("big"))
            let one = try Self.reader(fixture, "big"), two = try Self.reader(fixture, "big")

            // diod stops answering: what the reads reserve stays reserved. Each read of 60000
            // reserves its frame (23) and its reply (60011): five fit in 300K (307200), a sixth not.
            #expect(freeze(fixture.diod.process.pid))
            defer { kill(fixture.diod.process.pid, SIGCONT) }
            for tag in UInt16(10)..<16 { try one.send(Self.read(60_000), tag: tag) }
            let refused = try #require(try one.receive())
            #expect(refused.tag == 15 && refused.message == .lerror(Rlerror(ecode: 122)), "\(refused)")
            // The same client's other session shares the quota: 10000 more do not fit, a getattr does.
            #expect(try two.rpc(Self.read(10_000), tag: 20) == .lerror(Rlerror(ecode: 122)))
            try two.send(.getattr(Tgetattr(fid: 2, requestMask: 0x7ff)), tag: 21)

            kill(fixture.diod.process.pid, SIGCONT)
            var served: Set<UInt16> = []
            for _ in 0..<5 {
                let reply = try #require(try one.receive())
                guard case let .read(read) = reply.message else { Issue.record("expected Rread, got \(reply.message.type)"); continue }
                #expect(read.data == Array(data[0..<60_000]))
                served.insert(reply.tag)
            }
            #expect(served == Set(10..<15))
            guard case .getattr = try #require(try two.receive()).message else { Issue.record("getattr failed"); return }
            // Room again: both sessions are served.
            guard case let .read(read) = try two.rpc(Self.read(10_000), tag: 22) else { Issue.record("read refused after replies"); return }
            #expect(read.data == Array(data[0..<10_000]))
            guard case .read = try one.rpc(Self.read(60_000), tag: 16) else { Issue.record("read refused after replies"); return }

            let events = try String(contentsOfFile: audit, encoding: .utf8).split(separator: "\n").filter { $0.contains("BUDGET_EXCEEDED") }
            #expect(events.count == 2 && events.allSatisfy { $0.contains("quota 307200") }, "\(events)")
            let busy = try Metrics.scrape(port)
            #expect((busy["pebble9p_backend_reply_seconds_count"] ?? 0) >= 10, "\(busy)")
            #expect((busy["pebble9p_bytes_read_copied_total"] ?? 0) + (busy["pebble9p_bytes_read_zero_copy_total"] ?? 0) >= 5 * 60_000 + 70_000)
            withExtendedLifetime((one, two)) {}
            let log = fixture.gateway.process
            #expect(logLines(log, "closing client connection").isEmpty, "no session was closed by the gateway")
            #expect(waitFor(10) { (try? Metrics.scrape(port))?["pebble9p_bytes_held"] == 0 }, "\((try? Metrics.scrape(port)) ?? [:])")
        }
        @Test("--max-memory: while the sessions hold more than the ceiling a new connection is not accepted (logged once); it is served as soon as replies drain")
        func maxMemory() throws {
            let port = freePort()
            let fixture = try DiodBehindGateway("max-memory", extra: ["--max-memory", "200K", "--quota", "0", "--metrics", "127.0.0.1:\(port)"])
            defer { fixture.stop() }
            try Data(count: 1 << 20).write(to: fixture.directory.appendingPathComponent("big"))
            let one = try Self.reader(fixture, "big")
            #expect(freeze(fixture.diod.process.pid))
            defer { kill(fixture.diod.process.pid, SIGCONT) }
            // Four reads of 60000 at a stopped diod: 240 KB held, past the 200K (204800) ceiling.
            for tag in UInt16(10)..<14 { try one.send(Self.read(60_000), tag: tag) }
            #expect(waitFor(10) { ((try? Metrics.scrape(port))?["pebble9p_bytes_held"] ?? 0) >= 4 * 60_000 })
            let log = fixture.gateway.process
            let waiting = try RawClient(port: fixture.gateway.port)
            try waiting.send(.version(Tversion(msize: 65536, version: "9P2000.L")), tag: NineP.noTag)
            #expect(waitFor(10) { log.log.contains("memory ceiling reached") }, "\(log.log.suffix(3000))")
            usleep(300_000)
            var byte: UInt8 = 0
            #expect(recv(waiting.fd, &byte, 1, Int32(MSG_DONTWAIT)) == -1 && errno == EAGAIN, "answered while over the ceiling")

            kill(fixture.diod.process.pid, SIGCONT)
            for _ in 0..<4 { guard case .read = try #require(try one.receive()).message else { Issue.record("expected Rread"); return } }
            let version = try #require(try waiting.receive())
            #expect(version.message == .version(Rversion(msize: 65536, version: "9P2000.L")), "\(version)")
            #expect(logLines(log, "memory ceiling reached").count == 1)
        }
    }
}
