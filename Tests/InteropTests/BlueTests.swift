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
            // One Twrite frame, encoded once; each write patches its tag and offset in place.
            var frame = Frame(tag: 0, message: TMessage.write(Twrite(fid: 2, offset: 0, data: data))).encode(dialect: .linux)
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
                        frame.withUnsafeMutableBytes { bytes in
                            FramePatch.setTag(UInt16(10 + index), in: bytes)
                            FramePatch.setU64(offset, at: 11, in: bytes)
                        }
                        try client.sendRaw(frame)
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
    
        @Test("a client that creates a file (Tlcreate, as Linux does for open(O_CREAT)) and dies before closing it leaves no file; one that opens an existing file the same way leaves it as it was; one that closes it keeps it")
        func createdFiles() throws {
            let fixture = try DiodBehindGateway("blue-create", extra: ["--blue", "on"])
            defer { fixture.stop() }
            let existing = fixture.directory.appendingPathComponent("existing")
            try Data("old content".utf8).write(to: existing)
            func create(_ name: String, then finish: (RawClient) throws -> Void) throws {
                let client = try fixture.attachedClient()
                guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: [])), tag: 2),
                      case .lcreate = try client.rpc(.lcreate(Tlcreate(fid: 2, name: WireString(name), flags: 0o100 | 0o1000 | 1, mode: 0o644, gid: 0)), tag: 3),
                      case .write = try client.rpc(.write(Twrite(fid: 2, offset: 0, data: Array("new content".utf8))), tag: 4)
                else { throw MissingTool(description: "create \(name) failed") }
                try finish(client)
            }
            let log = fixture.gateway.process
            try create("dies") { $0.reset() }
            try create("existing") { $0.reset() }
            try create("kept") { client throws in
                let reply = try client.rpc(.clunk(Tclunk(fid: 2)), tag: 5)
                #expect(reply == .clunk(Rclunk()))
            }
            #expect(waitFor(20) { logLines(log, "session closed", "dialect=9P2000.L").count >= 2 })
            #expect(!FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("dies").path), "the created file is gone")
            #expect(try String(contentsOf: existing, encoding: .utf8) == "old content")
            #expect(try String(contentsOf: fixture.directory.appendingPathComponent("kept"), encoding: .utf8) == "new content")
        }

        @Test("two p9fs clients on one file: while one writes a new version (Twrites sent, not yet closed) it reads its own writes and the other reads the old version, whole, and its size; after the close, the new one")
        func isolation() throws {
            let fixture = try DiodBehindGateway("blue-isolation", extra: ["--blue", "on"])
            defer { fixture.stop() }
            let result = try runPythonScenario("p9fs_blue_isolation.py", ["--port", "\(fixture.gateway.port)", "--aname", fixture.directory.path])
            #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)\ngateway log:\n\(fixture.gateway.process.log.suffix(2000))")
            #expect(result.stdout.contains("\"ok\": true"), "\(result.stdout)")
        }

        @Test("Blue per identity: with --blue off, a client-budget with blue=on holds that address's writes until the clunk")
        func perIdentity() throws {
            let port = freePort()
            let fixture = try DiodBehindGateway("blue-identity", extra: ["--blue", "off", "--client-budget", "addr:127.0.0.1 blue=on",
                                                                          "--metrics", "127.0.0.1:\(port)"])
            defer { fixture.stop() }
            let target = fixture.directory.appendingPathComponent("f")
            try Data("before".utf8).write(to: target)
            let client = try fixture.attachedClient()
            guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["f"])), tag: 2),
                  case .lopen = try client.rpc(.lopen(Tlopen(fid: 2, flags: Self.readWrite)), tag: 3),
                  case .write = try client.rpc(.write(Twrite(fid: 2, offset: 0, data: Array("AFTER!".utf8))), tag: 4)
            else { throw MissingTool(description: "write failed") }
            #expect(try String(contentsOf: target, encoding: .utf8) == "before", "held until the clunk")
            #expect(waitFor(5) { (try? Metrics.scrape(port))?["pebble9p_blue_bytes_held"] == 6 }, "\((try? Metrics.scrape(port)) ?? [:])")
            #expect(try client.rpc(.clunk(Tclunk(fid: 2)), tag: 5) == .clunk(Rclunk()))
            #expect(try String(contentsOf: target, encoding: .utf8) == "AFTER!")
            let metrics = try Metrics.scrape(port)
            #expect(metrics["pebble9p_blue_bytes_held"] == 0 && metrics["pebble9p_speculative_operations_total"] == 1
                    && metrics["pebble9p_blue_commits_total{result=ok}"] == 1, "\(metrics)")
        }
    }
}
