import Foundation
import NineP
import Testing

extension Interop {
    /// Per-session budgets through the gateway in front of a real diod.
    @Suite struct Budgets {
        @Test("fid floods: 100 clients each cloning fids past --max-fids 50 all get EDQUOT, none is disconnected, a well-behaved client is served throughout, every fid is clunked after, and /metrics shows fids and bytes held back at zero")
        func fidFlood() throws {
            let port = freePort()
            let fixture = try DiodBehindGateway("fid-flood", extra: ["--max-fids", "50", "--metrics", "127.0.0.1:\(port)"])
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
            withExtendedLifetime(good) {}
            let after = try Metrics.scrape(port)
            #expect(after["pebble9p_budget_exceeded_events_total{budget=fids}"] == 500, "\(after)")
            #expect(after["pebble9p_fids_active"] == 1 && after["pebble9p_sessions_open"] == 1, "the good client's attach only: \(after)")
            #expect(after["pebble9p_bytes_held"] == 0, "\(after)")
        }

        /// Runs `diodcat` for each name at once (one process each) and returns the seconds until all finished.
        /// (Not `sh -c "… & wait"`: under the test runner the shell's wait never sees its children end.)
        static func catAtOnce(_ fixture: DiodBehindGateway, _ names: [String]) throws -> Double {
            let diodcat = try #require(which("diodcat"))
            let started = Date()
            let processes = try names.map { name in
                let process = Process()
                process.executableURL = URL(fileURLWithPath: diodcat)
                process.arguments = ["-s", fixture.gateway.address, "-a", fixture.directory.path, "-m", "65536", name]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                return process
            }
            let finished = waitFor(120) { processes.allSatisfy { !$0.isRunning } }
            let seconds = Date().timeIntervalSince(started)
            for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
            #expect(finished && processes.allSatisfy { $0.terminationStatus == 0 }, "diodcat failed or did not finish")
            return seconds
        }

        @Test("--max-conns-per-client 3 (or 1 with a client-budget of 3 for this address): a fourth session from the same address is closed before it is served; once one ends, a new one is",
              arguments: [["--max-conns-per-client", "3"], ["--max-conns-per-client", "1", "--client-budget", "addr:127.0.0.1 max-conns-per-client=3"]])
        func connectionsPerClient(flags: [String]) throws {
            let audit = "/tmp/pebble9p-audit-\(UUID().uuidString.prefix(8)).jsonl"
            let fixture = try DiodBehindGateway("conns-per-client", extra: flags + ["--audit", audit])
            defer {
                fixture.stop()
                try? FileManager.default.removeItem(atPath: audit)
            }
            let log = fixture.gateway.process
            // The start-up probe (a connection that sends nothing) was a session from this address too.
            #expect(waitFor(5) { logLines(log, "session closed").count == 1 })
            var clients = try (0..<3).map { _ in try fixture.attachedClient() }
            let fourth = try RawClient(port: fixture.gateway.port)
            #expect(throws: (any Error).self, "the fourth session is closed") { _ = try fourth.negotiate() }
            #expect(waitFor(5) { !logLines(log, "session closed", "max-conns-per-client").isEmpty }, "\(log.log.suffix(1500))")
            let events = (try? String(contentsOfFile: audit, encoding: .utf8)) ?? ""
            #expect(events.contains("\"event\":\"BUDGET_EXCEEDED\"") && events.contains("connections of addr:127.0.0.1 (3)"), "\(events)")
            for client in clients { #expect(try client.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), tag: 2) != .lerror(Rlerror(ecode: 5))) }
            clients.removeLast()
            #expect(waitFor(5) { logLines(log, "session closed").count == 3 })
            let again = try fixture.attachedClient()
            #expect(try again.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), tag: 2) != .lerror(Rlerror(ecode: 5)))
            withExtendedLifetime(clients) {}
        }

        @Test("--max-fids-per-client and --max-requests-per-client: one address's sessions (with two loops, the kernel spreads them) share 12 fids and 3 unanswered requests; past either a request gets EDQUOT and a BUDGET_EXCEEDED event, the sessions go on, and a clunk or a reply makes room")
        func fidsAndRequestsPerClient() throws {
            let port = freePort()
            let fixture = try DiodBehindGateway("per-client-totals", extra: ["--max-fids-per-client", "12", "--max-requests-per-client", "3",
                                                                             "--loops", "2", "--metrics", "127.0.0.1:\(port)"])
            defer { fixture.stop() }
            let clients = try (0..<4).map { _ in try fixture.attachedClient() }   // 4 fids: the attaches
            var cloned = 0, refused = 0
            for newfid in UInt32(2)...4 {
                for client in clients {
                    switch try client.rpc(.walk(Twalk(fid: 1, newfid: newfid, wnames: [])), tag: 5) {
                    case .walk: cloned += 1
                    case .lerror(Rlerror(ecode: 122)): refused += 1
                    case let other: Issue.record("clone: \(other)")
                    }
                }
            }
            #expect(cloned == 8 && refused == 4, "12 fids in all: 4 attaches and 8 clones (\(cloned) cloned, \(refused) refused)")
            // A clunk in one session makes room for a clone in another.
            let (first, last) = (try #require(clients.first), try #require(clients.last))
            let holder = try #require(try clients.firstIndex { try $0.rpc(.clunk(Tclunk(fid: 3)), tag: 6) == .clunk(Rclunk()) })
            #expect(try clients[(holder + 1) % 4].rpc(.walk(Twalk(fid: 1, newfid: 9, wnames: [])), tag: 7) == .walk(Rwalk(wqids: [])))

            // diod stops answering: three requests stay unanswered, a fourth from another session is refused.
            #expect(freeze(fixture.diod.process.pid))
            defer { kill(fixture.diod.process.pid, SIGCONT) }
            for tag in UInt16(10)..<13 { try first.send(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), tag: tag) }
            #expect(waitFor(5) { (try? Metrics.scrape(port))?["pebble9p_requests_total{type=Tgetattr}"] == 3 })
            #expect(try last.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), tag: 20) == .lerror(Rlerror(ecode: 122)))
            kill(fixture.diod.process.pid, SIGCONT)
            for _ in 0..<3 { guard case .getattr = try #require(try first.receive()).message else { Issue.record("getattr failed"); continue } }
            #expect(waitFor(5) {
                guard case .getattr = (try? last.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), tag: 21)) else { return false }
                return true
            }, "served once the replies are in")
            let metrics = try Metrics.scrape(port)
            #expect(metrics["pebble9p_budget_exceeded_events_total{budget=fids}"] == 4, "\(metrics)")
            #expect((metrics["pebble9p_budget_exceeded_events_total{budget=requests}"] ?? 0) >= 1, "\(metrics)")
            #expect(logLines(fixture.gateway.process, "closing client connection").isEmpty, "no session was closed by the gateway")
        }

        @Test("--pebble off: the budgets given are not applied (two sessions from one address past --max-conns-per-client 1, a 4 MiB read past --rate-bytes 1K)")
        func pebbleOff() throws {
            let fixture = try DiodBehindGateway("pebble-off", extra: ["--pebble", "off", "--max-conns-per-client", "1", "--rate-bytes", "1K"])
            defer { fixture.stop() }
            try runCommand("/bin/sh", ["-c", "head -c 4194304 /dev/urandom > '\(fixture.directory.appendingPathComponent("f.bin").path)'"])
            let first = try fixture.attachedClient()
            let second = try fixture.attachedClient()
            #expect(try second.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), tag: 2) != .lerror(Rlerror(ecode: 5)))
            // At 1 KiB/s this read would take over an hour: catAtOnce's bounded wait fails unless it is not paced.
            _ = try Self.catAtOnce(fixture, ["f.bin"])
            #expect(!logLines(fixture.gateway.process, "budgets off").isEmpty)
            withExtendedLifetime(first) {}
        }

        @Test("--rate-bytes 20M (or a client-budget of 20M for this address over a default of 1G): a client reading a 100 MiB file measures within 10 % of the rate",
              arguments: [["--rate-bytes", "20M"], ["--rate-bytes", "1G", "--client-budget", "addr:127.0.0.1 rate-bytes=20M"]])
        func rateBytes(flags: [String]) throws {
            let fixture = try DiodBehindGateway("rate-bytes", extra: flags + ["--burst-s", "0.1"])
            defer { fixture.stop() }
            let size = 100 << 20
            try runCommand("/bin/sh", ["-c", "head -c \(size) /dev/urandom > '\(fixture.directory.appendingPathComponent("big.bin").path)'"])
            let seconds = try Self.catAtOnce(fixture, ["big.bin"])
            let rate = Double(size) / seconds
            let limit = Double(20 << 20)
            #expect(abs(rate - limit) / limit < 0.10, "measured \(Int(rate)) bytes/s against \(Int(limit)) (\(seconds) s)")
        }

        @Test("--rate-bytes is per identity too: 8 sessions from one address on two loops share 20M between them")
        func ratePerIdentity() throws {
            let fixture = try DiodBehindGateway("rate-identity", extra: ["--rate-bytes", "20M", "--burst-s", "0.1", "--loops", "2"])
            defer { fixture.stop() }
            let part = 100 << 20 / 8
            let names = (0..<8).map { "part\($0).bin" }
            for name in names {
                try runCommand("/bin/sh", ["-c", "head -c \(part) /dev/urandom > '\(fixture.directory.appendingPathComponent(name).path)'"])
            }
            let seconds = try Self.catAtOnce(fixture, names)
            let rate = Double(part * 8) / seconds
            let limit = Double(20 << 20)
            let loops = Set(logLines(fixture.gateway.process, "session opened").compactMap { line in
                line.split(separator: " ").first { $0.hasPrefix("loop=") }
            })
            #expect(abs(rate - limit) / limit < 0.10, "together \(Int(rate)) bytes/s against \(Int(limit)) (\(seconds) s; sessions on \(loops))")
        }
    }
}

extension Interop.Budgets {
    @Test("fairness on a loop: a session that pipelines 40 000 requests at once does not hold up another on the same loop; the other's request is answered while most of the flood is still to come")
    func fairnessOnALoop() throws {
        let fixture = try DiodBehindGateway("fairness", extra: ["--loops", "1", "--pebble", "off", "--max-inflight", "64"])
        defer { fixture.stop() }
        let flooder = try fixture.attachedClient()
        let good = try fixture.attachedClient()
        let total = 40_000
        var batch: [UInt8] = []
        batch.reserveCapacity(total * 19)
        for index in 0..<total {
            batch += Frame(tag: UInt16(index % 60_000), message: TMessage.getattr(Tgetattr(fid: 1, requestMask: 0x7ff))).encode(dialect: .linux)
        }
        try flooder.sendRaw(batch)
        guard case .getattr = try good.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), tag: 7) else {
            Issue.record("the good client's getattr failed"); return
        }
        // The flood's replies so far: whole frames waiting in the flooder's socket.
        var waiting: Int32 = 0
        _ = ioctl(flooder.fd, UInt(FIONREAD), &waiting)
        let answered = Int(waiting) / 160   // an Rgetattr is 160 bytes
        #expect(answered < total / 2, "\(answered) of \(total) flood requests were answered before the other session's one")
        // Nothing is lost: every flood request is answered, in the end.
        var replies = 0
        while replies < total, let reply = try flooder.receive() {
            if case .getattr = reply.message { replies += 1 } else { Issue.record("flood reply \(reply.message.type)"); break }
        }
        #expect(replies == total)
    }
}

extension Interop.Budgets {
    @Test("client-budget max-fids and max-msize: this address's sessions get 8 fids and msize 16384 instead of --max-fids 5 and 65536")
    func perIdentitySessionLimits() throws {
        let fixture = try DiodBehindGateway("client-limits", extra: ["--max-fids", "5", "--client-budget", "addr:127.0.0.1 max-fids=8 max-msize=16384"])
        defer { fixture.stop() }
        let client = try RawClient(port: fixture.gateway.port)
        #expect(try client.negotiate(msize: 65536).msize == 16384)
        guard case .attach = try client.attach(aname: fixture.directory.path) else { Issue.record("attach failed"); return }
        for newfid in UInt32(2)...8 {
            guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: newfid, wnames: [])), tag: 2) else {
                Issue.record("clone \(newfid) refused within the identity's 8"); return
            }
        }
        #expect(try client.rpc(.walk(Twalk(fid: 1, newfid: 9, wnames: [])), tag: 2) == .lerror(Rlerror(ecode: 122)))
    }
}
