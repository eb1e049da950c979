import Foundation
import NineP
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Interop {
    /// What the backend sees when clients come and go: every fid a client made is clunked, once.
    @Suite struct SessionLifecycle {
        /// Fids diod created (Tattach fid, Twalk newfid with a successful reply) and clunked, read from its -d 1 trace.
        static func fidAccounting(_ log: String) -> (created: [Int], clunked: [Int]) {
            var created: [Int] = []
            var clunked: [Int] = []
            var lastCreated: Int?
            for line in log.split(separator: "\n") {
                let words = line.split(separator: " ").map(String.init)
                func field(_ name: String) -> Int? {
                    guard let index = words.firstIndex(of: name), index + 1 < words.count else { return nil }
                    return Int(words[index + 1])
                }
                if line.contains("P9_TATTACH") { lastCreated = field("fid") }
                else if line.contains("P9_TWALK") { lastCreated = field("newfid") }
                else if line.contains("P9_RATTACH") || line.contains("P9_RWALK") {
                    if let fid = lastCreated { created.append(fid) }
                    lastCreated = nil
                } else if line.contains("P9_RLERROR") { lastCreated = nil }
                else if line.contains("P9_TCLUNK"), let fid = field("fid") { clunked.append(fid) }
            }
            return (created, clunked)
        }

        /// SIGTERM, then the gateway must exit with status 0 within 15 s.
        static func stopWithSIGTERM(_ gateway: GatewayProcess, sourceLocation: SourceLocation = #_sourceLocation) {
            kill(gateway.process.pid, SIGTERM)
            #expect(waitFor(15) { !gateway.process.process.isRunning }, "gateway still running after SIGTERM",
                    sourceLocation: sourceLocation)
            gateway.process.process.waitUntilExit()
            #expect(gateway.process.process.terminationStatus == 0,
                    "exit status \(gateway.process.process.terminationStatus)\n\(gateway.process.log.suffix(2000))",
                    sourceLocation: sourceLocation)
        }

        /// A gateway whose exec: server is hostile_server.py ignoring EOF, a client attached through
        /// it, and the server's pid (from the gateway's debug log).
        static func gatewayWithServerIgnoringEOF() throws -> (gateway: GatewayProcess, client: RawClient, serverPid: Int32) {
            let script = Paths.clients.appendingPathComponent("hostile_server.py").path
            let gateway = try GatewayProcess(
                backend: "exec:exec /usr/bin/python3 \(script) --stdio --ignore-eof --mode trickle", extra: ["--loops", "1"])
            do {
                let client = try RawClient(port: gateway.port)
                #expect(try client.negotiate().version == "9P2000.L")
                guard case .attach = try client.attach(aname: "/") else { throw MissingTool(description: "attach failed") }
                let log = gateway.process.log
                let pid = try #require(log.range(of: "pid=").flatMap { Int32(log[$0.upperBound...].prefix { $0.isNumber }) },
                                       "no pid in the log:\n\(log.suffix(2000))")
                return (gateway, client, pid)
            } catch {
                gateway.stop()
                throw error
            }
        }

        @Test("a client that disconnects without clunking leaves no fid at the backend")
        func disconnectReleasesFids() throws {
            let fixture = try DiodBehindGateway("leak", debug: true)
            defer { fixture.stop() }
            let (diod, gateway) = (fixture.diod, fixture.gateway)

            do {
                let client = try RawClient(port: gateway.port)
                #expect(try client.negotiate().version == "9P2000.L")
                guard case .attach = try client.attach(aname: fixture.directory.path) else {
                    Issue.record("attach failed"); return
                }
                for newfid in UInt32(2)...UInt32(9) {
                    guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: newfid, wnames: []))) else {
                        Issue.record("walk failed"); return
                    }
                }
                // A walk that fails must not leave a fid either.
                if case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 20, wnames: ["missing"]))) {
                    Issue.record("walk to a missing name succeeded")
                }
            } // the client socket closes here, without a single Tclunk
            let balanced = waitFor(10) {
                let (created, clunked) = Self.fidAccounting(diod.process.log)
                return created.count == 9 && Set(created) == Set(clunked) && clunked.count == created.count
            }
            let (created, clunked) = Self.fidAccounting(diod.process.log)
            #expect(balanced, "created \(created.sorted()) clunked \(clunked.sorted())")
            #expect(gateway.process.log.contains("backend_fids_left=0"))
        }

        @Test("SIGTERM drains: every session's fids are clunked at the server before the gateway exits 0")
        func gracefulStop() throws {
            let fixture = try DiodBehindGateway("stop", debug: true)
            defer { fixture.stop() }
            let (diod, gateway) = (fixture.diod, fixture.gateway)
            var clients: [RawClient] = []
            for _ in 0..<3 {
                let client = try fixture.attachedClient()
                for newfid in UInt32(2)...UInt32(4) {
                    guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: newfid, wnames: []))) else {
                        Issue.record("walk failed"); return
                    }
                }
                clients.append(client)
            }
            Self.stopWithSIGTERM(gateway)
            let (created, clunked) = Self.fidAccounting(diod.process.log)
            #expect(created.count == 12 && clunked.count == created.count,
                    "created \(created.count) fids, clunked \(clunked.count) before the gateway exited")
            #expect(gateway.process.log.contains("stopping: draining sessions") && gateway.process.log.contains("stopped"))
            for client in clients { #expect(try client.readFrame() == nil, "client connection left open") }
            #expect(diod.process.process.isRunning, "diod died")
        }

        @Test("SIGTERM with connections that never finished Tversion (silent, or mid-frame) still drains every session and exits 0",
              arguments: [(1, 0), (1, 2), (2, 4)])
        func stopWithHandshakingClients(loops: Int, attachedCount: Int) throws {
            let fixture = try DiodBehindGateway("stop-early", debug: true, extra: ["--loops", "\(loops)"])
            defer { fixture.stop() }
            let (diod, gateway) = (fixture.diod, fixture.gateway)
            // Such a session has no backend, so it closes inside the loop's shutdown at once; the
            // loop must still report itself drained only once, and only when all its sessions are.
            var early: [RawClient] = []
            for index in 0..<6 {
                let client = try RawClient(port: gateway.port)
                if index % 2 == 1 { try client.sendRaw([19, 0, 0, 0, 100]) }   // a Tversion head, cut short
                early.append(client)
            }
            var attached: [RawClient] = []
            for _ in 0..<attachedCount {
                let client = try fixture.attachedClient()
                guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: []))) else {
                    Issue.record("walk failed"); return
                }
                attached.append(client)
            }
            Self.stopWithSIGTERM(gateway)
            #expect(!gateway.process.log.contains("crashed"), "\(gateway.process.log.suffix(2000))")
            let (created, clunked) = Self.fidAccounting(diod.process.log)
            #expect(created.count == 2 * attachedCount && clunked.count == created.count,
                    "created \(created.count) fids, clunked \(clunked.count) before the gateway exited")
            for client in early + attached { #expect(try client.readFrame() == nil, "client connection left open") }
        }

        @Test("a Tversion mid-session clunks every fid and starts a fresh session")
        func versionResets() throws {
            let fixture = try DiodBehindGateway("reset", debug: true)
            defer { fixture.stop() }

            let client = try fixture.attachedClient()
            _ = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: [])))
            let again = try client.negotiate(msize: 32768)
            #expect(again.version == "9P2000.L")
            #expect(again.msize == 32768)
            // The old fids are gone for the client …
            guard case let .lerror(error) = try client.rpc(.getattr(Tgetattr(fid: 2, requestMask: 0x7ff))) else {
                Issue.record("old fid still usable after Tversion"); return
            }
            #expect(error.ecode == 9)
            // … and at the backend, and the session works again with the same fid numbers.
            #expect(waitFor(5) {
                let (created, clunked) = Self.fidAccounting(fixture.diod.process.log)
                return Set(created) == Set(clunked) && created.count == 2
            })
            guard case .attach = try client.attach(aname: fixture.directory.path) else {
                Issue.record("attach after reset failed"); return
            }
        }

        @Test("a Tversion mid-session behind a request blocked at diod (an open of a FIFO) ends the session after --drain-timeout instead of stalling it")
        func versionResetTimesOut() throws {
            let fixture = try DiodBehindGateway("reset-stuck", extra: ["--drain-timeout", "1"])
            defer { fixture.stop() }
            let (client, fifo) = try fixture.clientBlockedOnFIFO()
            // diod answers the reset's Tflush only when the open ends, which it never does.
            try client.send(.version(Tversion(msize: 8192, version: "9P2000.L")), tag: NineP.noTag)
            // EOF, not the client's own 15 s receive timeout (which throws): the gateway closed it.
            let reply = try client.readFrame()
            #expect(reply == nil, "expected the session to close, got \(String(describing: reply))")
            #expect(waitFor(5) { fixture.gateway.process.log.contains("reason=Tversion reset timed out") },
                    "\(fixture.gateway.process.log.suffix(2000))")
            // Free diod's blocked thread.
            fixture.releaseFIFO(fifo)
        }

        @Test("a client that flushes a request blocked at diod and leaves: diod gets no second Tflush (it answers only the newest), so once the request ends every fid is clunked")
        func leaveAfterFlush() throws {
            // A drain-timeout far above the wait below: a cleanup stuck on an unanswered flush shows as no close at all.
            let fixture = try DiodBehindGateway("flush-leave", debug: true, extra: ["--drain-timeout", "120"])
            defer { fixture.stop() }
            // The open is under way at diod before the flush comes (a flush diod sees first takes
            // the open away before it blocks).
            let (client, fifo) = try fixture.clientBlockedOnFIFO()
            let peer = "peer=\(client.localAddress)"
            try client.send(.flush(Tflush(oldtag: 10)), tag: 11)
            #expect(waitFor(15) { fixture.diod.process.log.contains("P9_TFLUSH") }, "diod never got the client's Tflush")
            shutdown(client.fd, Int32(SHUT_RDWR))
            // The gateway has seen the client leave, and only then does the open end.
            let gateway = fixture.gateway.process
            #expect(waitFor(15) { !logLines(gateway, "client connection ended", peer).isEmpty }, "\(gateway.log.suffix(3000))")
            #expect(try fixture.diod.blockedOpeningFIFO(), "diod's open ended before the client left")
            #expect(fixture.releaseFIFO(fifo), "the FIFO had no reader: diod's open was no longer blocked")
            let closed = { logLines(gateway, "session closed", peer).first }
            #expect(waitFor(20) { closed() != nil }, "the cleanup still waits: \(gateway.log.suffix(3000))")
            #expect(closed()?.contains("backend_fids_left=0") == true, "\(gateway.log.suffix(3000))")
            let flushes = fixture.diod.process.log.components(separatedBy: "P9_TFLUSH").count - 1
            #expect(flushes == 1, "diod got \(flushes) Tflushes")
            withExtendedLifetime(client) {}
        }

        @Test("150 clients' Tversions at once: every one is answered, and diod's listen backlog (5) never overflows, since the gateway connects a few at a time")
        func connectBurst() throws {
            let fixture = try DiodBehindGateway("burst")
            defer { fixture.stop() }
            let before = try Self.listenOverflows()
            let clients = try (0..<150).map { _ in try RawClient(port: fixture.gateway.port) }
            var timeout = timeval(tv_sec: 30, tv_usec: 0)
            for client in clients {
                setsockopt(client.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                try client.send(.version(Tversion(msize: 65_536, version: "9P2000.L")), tag: NineP.noTag)
            }
            for (index, client) in clients.enumerated() {
                let reply = try client.receive()
                guard case .version? = reply?.message else { Issue.record("client \(index): \(String(describing: reply))"); return }
            }
            // Dropped SYNs (counted here) are what made a burst wait out TCP's 1 s, 3 s, 7 s retransmits.
            #expect(try Self.listenOverflows() == before, "the kernel dropped connects at a full listen queue")
        }

        @Test("--max-conns: a connection past the limit waits unaccepted, the open sessions go on, and it is served once one ends",
              arguments: [1, 2])
        func sessionLimit(loops: Int) throws {
            let fixture = try DiodBehindGateway("limit", extra: ["--max-conns", "2", "--loops", "\(loops)"])
            defer { fixture.stop() }
            let log = { fixture.gateway.process.log }
            let first = try fixture.attachedClient()
            let second = try fixture.attachedClient()
            // The kernel completes the TCP handshake into the listen queue; the gateway must not accept it.
            let third = try RawClient(port: fixture.gateway.port)
            var timeout = timeval(tv_sec: 15, tv_usec: 0)
            setsockopt(third.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            try third.send(.version(Tversion(msize: 65_536, version: "9P2000.L")), tag: NineP.noTag)
            #expect(waitFor(10) { log().contains("session limit reached") }, "\(log().suffix(2000))")
            for client in [first, second] {
                guard case .getattr = try client.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff))) else {
                    Issue.record("an open session stopped working at the limit")
                    return
                }
            }
            // Still in the kernel's accept queue, so the gateway cannot have answered it.
            #expect(try Self.acceptQueueLength(port: fixture.gateway.port) == 1, "the connection past the limit was accepted")
            var waiting = pollfd(fd: third.fd, events: Int16(POLLIN), revents: 0)
            #expect(poll(&waiting, 1, 0) == 0, "the connection past the limit was answered")
            // (waitForPort's probe connection opened and closed a session too.)
            let count = { (line: String) in log().components(separatedBy: line).count - 1 }
            #expect(count("session opened") - count("session closed") == 2)

            shutdown(first.fd, Int32(SHUT_RDWR))
            let reply = try third.receive()
            guard case .version? = reply?.message else {
                Issue.record("the waiting connection got \(String(describing: reply)) after a session ended")
                return
            }
            guard case .getattr = try second.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff))) else {
                Issue.record("the second session stopped working")
                return
            }
        }

        /// Connections waiting to be accepted on the listening sockets of 127.0.0.1:port (for a
        /// listener, /proc/net/tcp's rx_queue is its accept queue; SO_REUSEPORT gives one per loop).
        static func acceptQueueLength(port: UInt16) throws -> Int {
            let listeners = try TCPSocketRow.all().filter { $0.listening && $0.local == TCPSocketRow.loopbackAddress(port) }
            guard !listeners.isEmpty else { throw MissingTool(description: "no listener on port \(port) in /proc/net/tcp") }
            return listeners.reduce(0) { $0 + $1.receiveQueue }
        }

        /// TcpExtListenOverflows from /proc/net/netstat: connects dropped at a full listen queue.
        static func listenOverflows() throws -> Int {
            let lines = try readWholeFile("/proc/net/netstat").split(separator: "\n")
            for (names, values) in zip(lines, lines.dropFirst()) where names.hasPrefix("TcpExt:") && values.hasPrefix("TcpExt:") {
                let pairs = zip(names.split(separator: " "), values.split(separator: " "))
                if let value = pairs.first(where: { $0.0 == "ListenOverflows" })?.1, let count = Int(value) { return count }
            }
            throw MissingTool(description: "no TcpExt ListenOverflows in /proc/net/netstat")
        }

        @Test("Tflush racing its request through diod: Rflush always comes after the request's reply, if any")
        func flushOrdering() throws {
            let fixture = try DiodBehindGateway("flush")
            defer { fixture.stop() }
            try Data(repeating: 7, count: 1 << 20).write(to: fixture.directory.appendingPathComponent("data.bin"))

            let client = try fixture.attachedClient()
            _ = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["data.bin"])))
            _ = try client.rpc(.lopen(Tlopen(fid: 2, flags: 0)))

            // 100 Treads, each chased by a Tflush for it, all in one write.
            var burst: [UInt8] = []
            for index in UInt16(0)..<100 {
                burst += Frame(tag: 100 + index, message: TMessage.read(Tread(fid: 2, offset: UInt64(index) * 8192, count: 8192))).encode(dialect: .linux)
                burst += Frame(tag: 1000 + index, message: TMessage.flush(Tflush(oldtag: 100 + index))).encode(dialect: .linux)
            }
            try client.sendRaw(burst)
            var readAnswered = Set<UInt16>()
            var flushAnswered = Set<UInt16>()
            while flushAnswered.count < 100 {
                let reply = try #require(try client.receive(), "connection closed with \(flushAnswered.count) Rflush received")
                switch reply.message {
                case let .read(read):
                    #expect(!flushAnswered.contains(reply.tag + 900), "Rread \(reply.tag) after its Rflush")
                    #expect(read.data.count == 8192 && read.data.allSatisfy { $0 == 7 })
                    readAnswered.insert(reply.tag)
                case .flush:
                    #expect(flushAnswered.insert(reply.tag).inserted, "two Rflush for \(reply.tag)")
                default:
                    Issue.record("unexpected \(reply.message.type) for tag \(reply.tag)")
                }
            }
            // Every tag is free again: reuse them all in one more round trip each.
            for index in UInt16(0)..<100 {
                guard case .read = try client.rpc(.read(Tread(fid: 2, offset: 0, count: 16)), tag: 100 + index) else {
                    Issue.record("tag \(100 + index) unusable after its flush"); break
                }
            }
            #expect(fixture.gateway.process.process.isRunning)
        }

        @Test("a unix-socket server whose backlog is full: the session is refused with the connect error, not left connecting")
        func unixBacklogFull() throws {
            let directory = try makeTemporaryDirectory("backlog")
            defer { try? FileManager.default.removeItem(at: directory) }
            let socketPath = directory.appendingPathComponent("full.sock").path
            // Listens with a backlog of 0 and never accepts: after a connection or two, connect(2)
            // on a non-blocking unix socket fails with EAGAIN.
            let script = "import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(0); print('listening', flush=True); time.sleep(120)"
            let server = try TestProcess(name: "full-backlog", executable: "/usr/bin/python3", arguments: ["-c", script, socketPath])
            defer { server.stop() }
            #expect(waitFor(10) { server.log.contains("listening") })
            let gateway = try GatewayProcess(backend: "unix:\(socketPath)", extra: ["--loops", "1", "--drain-timeout", "1"])
            defer { gateway.stop() }
            var clients: [RawClient] = []
            for _ in 0..<4 {
                let client = try RawClient(port: gateway.port)
                try client.send(.version(Tversion(msize: 65536, version: "9P2000.L")), tag: NineP.noTag)
                clients.append(client)
            }
            #expect(waitFor(10) { gateway.process.log.contains("cannot reach file server") },
                    "log:\n\(gateway.process.log.suffix(2000))")
            let log = gateway.process.log
            #expect(log.contains("Resource temporarily unavailable"), "log:\n\(log.suffix(2000))")
            #expect(!log.contains("Transport endpoint is not connected"), "log:\n\(log.suffix(2000))")
            #expect(gateway.process.process.isRunning)
        }

        @Test("a client that leaves while the gateway still connects to a server that drops its SYNs: the session ends after drain-timeout, not TCP's connect timeout")
        func leaveWhileConnecting() throws {
            let port = freePort()
            // Listens with a backlog of 0, never accepts, and fills its one place itself: later SYNs are dropped.
            let script = """
            import select,socket,sys,time
            s=socket.socket(); s.bind(('127.0.0.1',int(sys.argv[1]))); s.listen(0)
            fillers=[socket.socket() for _ in range(2)]
            for f in fillers: f.setblocking(False); f.connect_ex(('127.0.0.1',int(sys.argv[1])))
            select.select([], fillers, [], 10)  # a filler's handshake is done: the one place is taken
            print('listening', flush=True); time.sleep(120)
            """
            let server = try TestProcess(name: "dropping-syns", executable: "/usr/bin/python3", arguments: ["-c", script, "\(port)"])
            defer { server.stop() }
            #expect(waitFor(10) { server.log.contains("listening") })
            let gateway = try GatewayProcess(backend: "tcp:127.0.0.1:\(port)", extra: ["--loops", "1", "--drain-timeout", "1"])
            defer { gateway.stop() }
            let client = try RawClient(port: gateway.port)
            let peer = "peer=\(client.localAddress)"
            // A version the gateway refuses itself: the server, being dialed, is sent nothing.
            guard case let .version(reply)? = try { try client.send(.version(Tversion(msize: 8192, version: "XP")), tag: NineP.noTag); return try client.receive()?.message }(),
                  reply.version == "unknown" else {
                Issue.record("no Rversion unknown"); return
            }
            shutdown(client.fd, Int32(SHUT_RDWR))
            #expect(waitFor(15) { !logLines(gateway.process, "session closed", peer).isEmpty }, "the session waits for the connect: \(gateway.process.log.suffix(2000))")
        }

        @Test("Ctrl-C to the gateway's whole process group still drains: its exec: servers have a group of their own")
        func groupSignalStillDrains() throws {
            let directory = try makeExportDirectory("group-signal")
            defer { try? FileManager.default.removeItem(at: directory) }
            let gateway = try GatewayProcess(export: directory, extra: ["--loops", "1"])
            defer { gateway.stop() }
            // Foundation starts it leading a process group of its own, as a shell's job or a service is.
            let pid = gateway.process.pid
            try #require(getpgid(pid) == pid, "the gateway must lead its group, or the signal would reach the test runner")
            let client = try RawClient(port: gateway.port)
            _ = try client.negotiate()
            guard case .attach = try client.attach(aname: directory.path) else { Issue.record("attach failed"); return }
            guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: []))) else { Issue.record("walk failed"); return }

            kill(-pid, SIGINT)  // what Ctrl-C in a terminal does
            try #require(waitFor(15) { !gateway.process.process.isRunning }, "gateway still running after SIGINT")
            gateway.process.process.waitUntilExit()
            #expect(gateway.process.process.terminationStatus == 0)
            // Before, diod got the SIGINT too and died first: backend_fids_left=2.
            let log = gateway.process.log
            let closed = logLines(gateway.process, "session closed", "dialect=9P2000.L")
            #expect(closed.count == 1 && closed.allSatisfy { $0.contains("backend_fids_left=0") }, "\(log.suffix(2000))")
            withExtendedLifetime(client) {}
        }

        @Test("an exec: server that ignores EOF when its session ends is sent SIGTERM")
        func execServerIgnoringEOF() throws {
            let (gateway, client, pid) = try Self.gatewayWithServerIgnoringEOF()
            defer { gateway.stop() }
            shutdown(client.fd, Int32(SHUT_RDWR))
            #expect(waitFor(10) { gateway.process.log.contains("ignoring EOF") }, "log:\n\(gateway.process.log.suffix(2000))")
            // The gateway gives it 2 s, then SIGTERM; it must be gone well within 10 s.
            #expect(waitFor(10) { kill(pid, 0) != 0 }, "server pid \(pid) still running: \((try? readWholeFile("/proc/\(pid)/status")) ?? "")\n\(gateway.process.log.suffix(2000))")
            #expect(gateway.process.log.contains("sending SIGTERM"))
        }

        @Test("a gateway told to stop waits for its exec: servers, one that ignores EOF included, and leaves none behind")
        func stopWaitsForExecServers() throws {
            let (gateway, client, pid) = try Self.gatewayWithServerIgnoringEOF()
            defer { gateway.stop() }
            // The client's session (and so its server) is open when the gateway is told to stop.
            withExtendedLifetime(client) { Self.stopWithSIGTERM(gateway) }
            // Reaped by the gateway before it exited: the pid is gone, not a zombie left to init.
            #expect(kill(pid, 0) != 0, "server pid \(pid) outlived the gateway:\n\(gateway.process.log.suffix(2000))")
        }

        @Test("--drain-timeout: a server that stops answering is disconnected after the timeout, and others go on")
        func drainTimeout() throws {
            let fixture = try DiodBehindGateway("drain", extra: ["--drain-timeout", "1"])
            defer { fixture.stop() }
            let (diod, gateway) = (fixture.diod, fixture.gateway)

            withExtendedLifetime(try fixture.attachedClient()) {
                #expect(freeze(diod.process.pid))   // the server freezes with the session's fid live
            }                                       // … and the client leaves
            defer { kill(diod.process.pid, SIGCONT) }
            #expect(waitFor(10) { gateway.process.log.contains("did not answer the cleanup in time") },
                    "no drain-timeout log line:\n\(gateway.process.log)")
            #expect(waitFor(5) { gateway.process.log.contains("session closed") })
            kill(diod.process.pid, SIGCONT)
            let next = try RawClient(port: gateway.port)
            #expect(try next.negotiate().version == "9P2000.L")
        }

        @Test("--max-msize caps what the client asks for")
        func maxMsize() throws {
            let fixture = try DiodBehindGateway("msize", extra: ["--max-msize", "16384"])
            defer { fixture.stop() }
            let client = try RawClient(port: fixture.gateway.port)
            #expect(try client.negotiate(msize: 1 << 20).msize == 16384)
            // Uncapped, the client keeps 1 MiB though diod's is 65536 (msize bridging); with
            // --bridge-msize off diod's own cap wins.
            let uncapped = try GatewayProcess(backend: fixture.diod.spec)
            defer { uncapped.stop() }
            #expect(try RawClient(port: uncapped.port).negotiate(msize: 1 << 20).msize == 1 << 20)
            let unbridged = try GatewayProcess(backend: fixture.diod.spec, extra: ["--bridge-msize", "off"])
            defer { unbridged.stop() }
            #expect(try RawClient(port: unbridged.port).negotiate(msize: 1 << 20).msize == 65536)
        }

        @Test("with --loops 2 (and 3), connections that stay open are spread evenly over the loops, whichever loop's socket the kernel hands each to, and a session of a connection handed over works",
              arguments: [2, 3])
        func loopsShareConnections(loops: Int) throws {
            let fixture = try DiodBehindGateway("loops", extra: ["--loops", "\(loops)"])
            defer { fixture.stop() }
            try Data("here\n".utf8).write(to: fixture.directory.appendingPathComponent("file.txt"))
            // One at a time, each attached before the next connects: the spread is then exact.
            var clients: [RawClient] = []
            for _ in 0..<(4 * loops) {
                clients.append(try fixture.attachedClient())
            }
            // (The gateway's start was probed by a connection of its own: not one of these.)
            let peers = Set(clients.map { "peer=\($0.localAddress) " })
            let opened = logLines(fixture.gateway.process, "session opened").filter { line in peers.contains { line.contains($0) } }
            #expect(opened.count == 4 * loops)
            for index in 0..<loops {
                #expect(opened.filter { $0.contains(" loop=\(index) ") }.count == 4, "loop \(index):\n\(opened.joined(separator: "\n"))")
            }
            for client in clients {
                guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["file.txt"]))),
                      case .lopen = try client.rpc(.lopen(Tlopen(fid: 2, flags: 0))),
                      case let .read(data) = try client.rpc(.read(Tread(fid: 2, offset: 0, count: 100))) else {
                    Issue.record("walk, open or read failed"); return
                }
                #expect(data.data == Array("here\n".utf8))
            }
        }
    }
}
