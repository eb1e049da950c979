import Foundation
import NineP
import Testing
import TestSupport

extension Interop {
    /// Blue writes (`--blue on`) through the gateway in front of a real diod.
    @Suite struct Blue {
        static let readWrite: UInt32 = 2
        static let truncate: UInt32 = 0o1000

        @Test("a client that dies mid-write (a TCP reset at a random point of a 50 MiB write, 50 times, seeded; half of them opened with O_TRUNC) leaves the file byte-identical every time, with one PARTIAL_WRITE_ROLLBACK event per death")
        func killedWriters() throws {
            let work = try makeTemporaryDirectory("blue-kill-audit")
            defer { try? FileManager.default.removeItem(at: work) }
            let audit = work.appendingPathComponent("audit.jsonl").path
            let fixture = try DiodBehindGateway("blue-kill", extra: ["--blue", "on", "--audit", audit])
            defer { fixture.stop() }
            let seed = testSeed("blue-kill")
            var random = SplitMix64(seed: seed)
            let target = fixture.directory.appendingPathComponent("target")
            let original = Data((0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
            try original.write(to: target)
            let chunk = 65_536 - 24, writes = (50 << 20) / chunk
            let data = (0..<chunk).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            for round in 0..<50 {
                let client = try fixture.attachedClient()
                guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["target"])), tag: 2),
                      case .lopen = try client.rpc(.lopen(Tlopen(fid: 2, flags: Self.readWrite | (round % 2 == 0 ? Self.truncate : 0))), tag: 3)
                else { throw MissingTool(description: "cannot open target") }
                // Writes go in batches of 8 at a time, each batch answered before the next; the
                // client dies after `dies` writes were sent (some of them perhaps not yet answered).
                let dies = 1 + random.below(writes - 1)
                var sent = 0
                while sent < dies {
                    let batch = min(8, dies - sent)
                    for index in 0..<batch {
                        let offset = UInt64(round % 2 == 0 ? sent + index : random.below(writes)) * UInt64(chunk)
                        try client.send(.write(Twrite(fid: 2, offset: offset, data: data)), tag: UInt16(10 + index))
                    }
                    sent += batch
                    if sent < dies { for _ in 0..<batch { _ = try client.receive() } }
                }
                client.reset()
                let rollbacks = { ((try? String(contentsOfFile: audit, encoding: .utf8)) ?? "").components(separatedBy: "PARTIAL_WRITE_ROLLBACK").count - 1 }
                let rolledBack = waitFor(20) { rollbacks() == round + 1 }
                #expect(rolledBack, "seed \(seed) round \(round): \(rollbacks()) rollback events")
                #expect(waitFor(20) { logLines(fixture.gateway.process, "session closed", "dialect=9P2000.L").count == round + 1 })
                let now = try Data(contentsOf: target)
                #expect(now == original, "seed \(seed) round \(round): the file changed (\(now.count) bytes) after a client died after \(dies) writes")
                if now != original || !rolledBack { break }
            }
        }
    }
}
