import Foundation
import NineP
import Testing
import TestSupport

/// The Blue temporaries (`.pebble9p-*`) in `directory`, as the server's disk shows them.
func blueTemporaries(in directory: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasPrefix(".pebble9p-") }
}

extension Interop {
    /// Blue writes (`--blue on`) through the gateway in front of a real diod.
    @Suite struct Blue {
        static let readWrite: UInt32 = 2
        static let truncate: UInt32 = 0o1000

        /// Writes `data` `writes` times back to back on fid 2 from offset 0, eight Twrites in flight
        /// at a time (one frame, encoded once; each write patches its tag and offset in place).
        static func writeSequentially(_ client: RawClient, data: [UInt8], writes: Int) throws {
            var frame = Frame(tag: 0, message: TMessage.write(Twrite(fid: 2, offset: 0, data: data))).encode(dialect: .linux)
            for first in stride(from: 0, to: writes, by: 8) {
                let batch = min(8, writes - first)
                for index in 0..<batch {
                    frame.withUnsafeMutableBytes { bytes in
                        FramePatch.setTag(UInt16(10 + index), in: bytes)
                        FramePatch.setU64(UInt64(first + index) * UInt64(data.count), at: 11, in: bytes)
                    }
                    try client.sendRaw(frame)
                }
                for _ in 0..<batch { _ = try client.receive() }
            }
        }

        @Test("a client that dies mid-write (a TCP reset at a random point of a 50 MiB write, 50 times, seeded; half of them opened with O_TRUNC; past --blue-max 16M a truncated file's writes stream to its temporary) leaves the file byte-identical every time, with one PARTIAL_WRITE_ROLLBACK event per death, and no temporary after the next commit in the directory")
        func killedWriters() throws {
            let work = try makeTemporaryDirectory("blue-kill-audit")
            defer { try? FileManager.default.removeItem(at: work) }
            let audit = work.appendingPathComponent("audit.jsonl").path
            let fixture = try DiodBehindGateway("blue-kill", extra: ["--blue", "on", "--blue-max", "16M", "--audit", audit])
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
                // At least the first batch is answered, so the gateway holds something to drop: a
                // reset discards what the gateway has not read yet, and with nothing held (no
                // O_TRUNC) there is nothing to roll back.
                let dies = 9 + random.below(writes - 9)
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
            // A client that died in the middle of a spliced Twrite to its temporary left the server's
            // connection unusable, and the temporary with it: the next commit in the directory (a
            // replace) removes every one.
            let left = { blueTemporaries(in: fixture.directory) }
            let other = fixture.directory.appendingPathComponent("other")
            try Data("other".utf8).write(to: other)
            let client = try fixture.attachedClient()
            guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["other"])), tag: 2),
                  case .lopen = try client.rpc(.lopen(Tlopen(fid: 2, flags: Self.readWrite | Self.truncate)), tag: 3),
                  case .write = try client.rpc(.write(Twrite(fid: 2, offset: 0, data: Array("saved".utf8))), tag: 4)
            else { throw MissingTool(description: "cannot write other") }
            #expect(try client.rpc(.clunk(Tclunk(fid: 2)), tag: 5) == .clunk(Rclunk()))
            #expect(waitFor(10) { left().isEmpty }, "seed \(seed): temporaries left after the next commit: \(left())")
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

        @Test("atomic replace against diod killed (SIGKILL) while the new content of a truncated 48 MiB file streams to its temporary (2 seeded points) and right after the clunk asked for the rename: the file is the old content while the temporary is written and after, or the new one whole after the clunk, never a part; the temporaries left behind are hidden from walks and directory reads, and the next session's replace in that directory removes those older than a minute (a fresh one stays)")
        func serverKilledMidCommit() throws {
            let work = try makeTemporaryDirectory("blue-replace-crash")
            defer { try? FileManager.default.removeItem(at: work) }
            let target = work.appendingPathComponent("target")
            var random = SplitMix64(seed: testSeed("blue-replace-crash"))
            let original = Data((0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
            try original.write(to: target)
            let chunk = 65_536 - 24, writes = (48 << 20) / chunk
            let data = (0..<chunk).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let temporaries = { blueTemporaries(in: work) }
            func start() throws -> (DiodServer, GatewayProcess) {
                let diod = try DiodServer(exporting: work)
                return (diod, try GatewayProcess(backend: diod.spec, extra: ["--blue", "on", "--blue-max", "128M"]))
            }
            for round in 0..<3 {
                let (diod, gateway) = try start()
                defer { gateway.stop(); diod.stop() }
                let client = try RawClient(port: gateway.port)
                _ = try client.negotiate()
                _ = try client.attach(aname: work.path)
                guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["target"])), tag: 2),
                      case .lopen = try client.rpc(.lopen(Tlopen(fid: 2, flags: Self.readWrite | Self.truncate)), tag: 3)
                else { throw MissingTool(description: "cannot open target") }
                // The new content streams to a temporary as it comes (past 1 MiB); diod dies after
                // `killAfter` writes (rounds 0 and 1), or right after the clunk asked for the rename
                // (round 2: the file is then the old content or the new).
                let earlier = Set(temporaries())
                let killAfter = round == 2 ? writes : 16 + random.below(writes - 16)
                try Self.writeSequentially(client, data: data, writes: killAfter)
                let during = try Data(contentsOf: target)
                #expect(during == original, "round \(round): read while the temporary was written: \(during.count) bytes")
                #expect(temporaries().contains { !earlier.contains($0) }, "round \(round): the new content is in a temporary")
                if round == 2 { try client.send(.clunk(Tclunk(fid: 2)), tag: 5) }
                kill(diod.process.pid, SIGKILL)
                #expect(waitFor(10) { !diod.process.process.isRunning })
                let after = try Data(contentsOf: target)
                #expect(after == original || (round == 2 && after.count == writes * chunk && after.prefix(chunk) == Data(data)),
                        "round \(round): after diod died: \(after.count) bytes")
            }
            let left = temporaries()
            #expect(left.count >= 2, "each killed write leaves its temporary: \(left)")
            let (diod, gateway) = try start()
            defer { gateway.stop(); diod.stop() }
            let client = try RawClient(port: gateway.port)
            _ = try client.negotiate()
            _ = try client.attach(aname: work.path)
            // Hidden: a walk to one fails, a directory read leaves them out.
            for name in left {
                #expect(try client.rpc(.walk(Twalk(fid: 1, newfid: 3, wnames: [WireString(name)])), tag: 2) == .lerror(Rlerror(ecode: 2)))
            }
            guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 4, wnames: [])), tag: 2),
                  case .lopen = try client.rpc(.lopen(Tlopen(fid: 4, flags: 0o200000)), tag: 3),
                  case let .readdir(listing) = try client.rpc(.readdir(Treaddir(fid: 4, offset: 0, count: 8000)), tag: 4)
            else { throw MissingTool(description: "cannot read the directory") }
            let listed = try Dirent.decodeAll(listing.data).map { String(decoding: $0.name.bytes, as: UTF8.self) }
            #expect(listed.contains("target") && !listed.contains { $0.hasPrefix(".pebble9p-") }, "\(listed)")
            // Aged two minutes, they are stale; one made now is not.
            let aged = Date().addingTimeInterval(-120)
            for name in left { try FileManager.default.setAttributes([.modificationDate: aged], ofItemAtPath: work.appendingPathComponent(name).path) }
            let fresh = ".pebble9p-00000000000000ff.tmp"
            try Data("fresh".utf8).write(to: work.appendingPathComponent(fresh))
            guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["target"])), tag: 2),
                  case .lopen = try client.rpc(.lopen(Tlopen(fid: 2, flags: Self.readWrite | Self.truncate)), tag: 3),
                  case .write = try client.rpc(.write(Twrite(fid: 2, offset: 0, data: Array("small".utf8))), tag: 4)
            else { throw MissingTool(description: "cannot write target") }
            #expect(try client.rpc(.clunk(Tclunk(fid: 2)), tag: 5) == .clunk(Rclunk()))
            #expect(try String(contentsOf: target, encoding: .utf8) == "small")
            #expect(waitFor(10) { temporaries() == [fresh] }, "left: \(temporaries())")
        }

        @Test("streaming: a 200 MiB file written with O_TRUNC and --blue-max 8M goes to its temporary as it comes (the gateway's memory stays far below the file), the file keeps its old content until the clunk, then has the new one whole, and no temporary is left")
        func streamedWrite() throws {
            let fixture = try DiodBehindGateway("blue-stream", extra: ["--blue", "on", "--blue-max", "8M"])
            defer { fixture.stop() }
            let target = fixture.directory.appendingPathComponent("big")
            try Data("old".utf8).write(to: target)
            let client = try fixture.attachedClient()
            guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["big"])), tag: 2),
                  case .lopen = try client.rpc(.lopen(Tlopen(fid: 2, flags: Self.readWrite | Self.truncate)), tag: 3)
                else { throw MissingTool(description: "cannot open big") }
            let chunk = 65_536 - 24, writes = (200 << 20) / chunk
            var random = SplitMix64(seed: 7)
            let data = (0..<chunk).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            try Self.writeSequentially(client, data: data, writes: writes)
            #expect(try Data(contentsOf: target) == Data("old".utf8), "the file is as it was until the clunk")
            let streamed = blueTemporaries(in: fixture.directory)
            #expect(streamed.count == 1, "one temporary: \(streamed)")
            let peak = try readWholeFile("/proc/\(fixture.gateway.process.pid)/status").split(separator: "\n")
                .first { $0.hasPrefix("VmHWM:") }.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
            #expect(peak > 0 && peak < 100 << 10, "the gateway's peak memory \(peak) KiB, for a 200 MiB file")
            #expect(try client.rpc(.clunk(Tclunk(fid: 2)), tag: 5) == .clunk(Rclunk()))
            let written = try Data(contentsOf: target)
            #expect(written.count == writes * chunk && written.prefix(chunk) == Data(data) && written.suffix(chunk) == Data(data))
            #expect(blueTemporaries(in: fixture.directory).isEmpty)
        }

        @Test("spill: an edit (no truncation) writing 40 MiB over a 48 MiB file, with --blue-max 64M and --blue-memory 1M, holds its bytes in an unnamed file in --blue-dir, not in memory (the gateway's peak stays far below 40 MiB); the file is as it was until the clunk, then has the edit whole, the held bytes sent from the spill file by sendfile; nothing is left in the directory; a --blue-dir that cannot hold such files stops the gateway at start, naming it")
        func spilledEdit() throws {
            let spillDirectory = try makeTemporaryDirectory("blue-spill")
            defer { try? FileManager.default.removeItem(at: spillDirectory) }
            let fixture = try DiodBehindGateway("blue-spill", extra: ["--blue", "on", "--blue-max", "64M", "--blue-memory", "1M",
                                                                    "--blue-dir", spillDirectory.path])
            defer { fixture.stop() }
            let target = fixture.directory.appendingPathComponent("big")
            var random = SplitMix64(seed: 11)
            let old = Data((0..<(48 << 20)).map { _ in UInt8(truncatingIfNeeded: random.next() >> 7) })
            try old.write(to: target)
            let client = try fixture.attachedClient()
            guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["big"])), tag: 2),
                  case .lopen = try client.rpc(.lopen(Tlopen(fid: 2, flags: Self.readWrite)), tag: 3)
                else { throw MissingTool(description: "cannot open big") }
            let chunk = 65_536 - 24, writes = (40 << 20) / chunk
            let data = (0..<chunk).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            try Self.writeSequentially(client, data: data, writes: writes)
            #expect(try Data(contentsOf: target) == old, "the file is as it was until the clunk")
            #expect(try FileManager.default.contentsOfDirectory(atPath: spillDirectory.path).isEmpty, "the spill file has no name")
            let peak = try readWholeFile("/proc/\(fixture.gateway.process.pid)/status").split(separator: "\n")
                .first { $0.hasPrefix("VmHWM:") }.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
            #expect(peak > 0 && peak < 32 << 10, "the gateway's peak memory \(peak) KiB, holding a 40 MiB edit")
            #expect(try client.rpc(.clunk(Tclunk(fid: 2)), tag: 5) == .clunk(Rclunk()))
            let written = try Data(contentsOf: target)
            let edited = writes * chunk
            #expect(written.count == old.count && written.prefix(chunk) == Data(data) && written[(edited - chunk)..<edited] == Data(data)
                    && written.suffix(old.count - edited) == old.suffix(old.count - edited))
            #expect(blueTemporaries(in: fixture.directory).isEmpty)
            #expect(logLines(fixture.gateway.process, "commit in place").isEmpty, "the edit was replaced atomically")
            // The held bytes went from the spill file to diod's socket with sendfile, counted as zero-copy.
            client.reset()
            #expect(waitFor(10) { !logLines(fixture.gateway.process, "session closed", "dialect=9P2000.L").isEmpty })
            let line = try #require(logLines(fixture.gateway.process, "session closed", "dialect=9P2000.L").first)
            let zeroCopy = line.split(separator: " ").first { $0.hasPrefix("bytes_written_zero_copy=") }.flatMap { Int($0.dropFirst(24)) } ?? -1
            #expect(zeroCopy == edited, "\(line)")
            // Past the first MiB, writes whose data had not all arrived with their head went from the
            // socket into the spill file (splice), as `--splice-min` has it for writes to the server.
            let spliced = line.split(separator: " ").first { $0.hasPrefix("bytes_held_spliced=") }.flatMap { Int($0.dropFirst(19)) } ?? -1
            #expect(spliced > 0 && spliced < edited, "\(line)")

            let unusable = try runCommand(Paths.gateway, ["serve", "--listen", "127.0.0.1:\(freePort())", "--backend", "tcp:127.0.0.1:1",
                                                          "--blue-dir", "/nonexistent-pebble9p-dir"], timeout: 30)
            #expect(unusable.status != 0 && unusable.stderr.contains("/nonexistent-pebble9p-dir"), "\(unusable.stderr)")
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
