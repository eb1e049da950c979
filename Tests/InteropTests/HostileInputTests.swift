import Foundation
import NineP
import TestSupport
import Testing

extension Interop {
    /// Malformed and hostile frames get an error reply or a closed connection, and never disturb
    /// another session on the same gateway.
    @Suite struct HostileInput {
        /// diod behind the gateway (stopped, and the directory removed, when the test's `setup` goes).
        final class Setup: DiodBehindGateway {
            /// `extra`: more flags for the gateway (`--blue on`); `msize`: its --max-msize and what
            /// the clients ask for (above diod's 65536, the gateway bridges).
            let msize: UInt32
            init(debug: Bool = false, extra: [String] = [], msize: UInt32 = 65536) throws {
                self.msize = msize
                try super.init("hostile", debug: debug, extra: ["--max-msize", "\(msize)"] + extra)
                try Data("still here\n".utf8).write(to: directory.appendingPathComponent("file.txt"))
            }

            /// A well-behaved session that must keep working next to the hostile one.
            func bystander() throws -> RawClient { try attachedClient(msize: msize) }

            func checkBystander(_ client: RawClient) throws {
                guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["file.txt"])), tag: 5) else {
                    Issue.record("bystander walk failed"); return
                }
                guard case .clunk = try client.rpc(.clunk(Tclunk(fid: 2)), tag: 6) else {
                    Issue.record("bystander clunk failed"); return
                }
                #expect(gateway.process.process.isRunning, "gateway died:\n\(gateway.process.log)")
            }
        }

        /// Sends 3000 frames made from `seeds` in turn (the frame's index is its tag), each with 1–4
        /// random bytes after the size field changed, in bursts of about `burstBytes`. Each burst
        /// is handled before the next is sent (`settled` with `ping`; its tag is above the frames'):
        /// else all of them would sit in the socket buffers while the first closing frame ends the
        /// session. A closed session is replaced by `newClient()`'s. Returns the last client.
        static func sendMutated(_ seeds: [TMessage], dialect: Dialect, burstBytes: Int, generator: inout SplitMix64,
                                ping: TMessage, newClient: () throws -> RawClient) throws -> RawClient {
            var client = try newClient()
            var burst: [UInt8] = []
            for index in 0..<3000 {
                var frame = Frame(tag: UInt16(index), message: seeds[index % seeds.count]).encode(dialect: dialect)
                for _ in 0..<(1 + generator.below(4)) {
                    let position = 4 + generator.below(frame.count - 4)
                    frame[position] = UInt8(truncatingIfNeeded: generator.next())
                }
                burst += frame
                if burst.count > burstBytes || index == 2999 {
                    let sent = (try? client.sendRaw(burst)) != nil
                    if try !sent || !client.settled(ping: ping, tag: 0xFFF0) {
                        client = try newClient()
                    }
                    burst.removeAll()
                }
            }
            return client
        }

        /// A bystander's session still works end to end: file.txt walked to, opened with `open`
        /// (a Topen or a Tlopen of fid 2), read ("still here\n") and clunked.
        static func checkStillHere(_ client: RawClient, open: TMessage, gateway: GatewayProcess) throws {
            guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["file.txt"])), tag: 5) else {
                Issue.record("bystander walk failed:\n\(gateway.process.log.suffix(2000))"); return
            }
            switch try client.rpc(open, tag: 6) {
            case .open, .lopen: break
            default: Issue.record("bystander open failed:\n\(gateway.process.log.suffix(2000))"); return
            }
            guard case let .read(data) = try client.rpc(.read(Tread(fid: 2, offset: 0, count: 100)), tag: 7) else {
                Issue.record("bystander read failed:\n\(gateway.process.log.suffix(2000))"); return
            }
            #expect(data.data == Array("still here\n".utf8))
            guard case .clunk = try client.rpc(.clunk(Tclunk(fid: 2)), tag: 8) else {
                Issue.record("bystander clunk failed"); return
            }
        }

        static func frame(type: UInt8, tag: UInt16, body: [UInt8]) -> [UInt8] {
            var writer = WireWriter()
            writer.u32(UInt32(7 + body.count)); writer.u8(type); writer.u16(tag); writer.raw(body)
            return writer.bytes
        }

        @Test("frames behind the one that closes the connection are never handled: a Tremove sent after a reused tag does not reach the server")
        func nothingAfterTheFatalFrame() throws {
            let setup = try Setup(debug: true)
            defer { setup.stop() }
            try Data("keep me\n".utf8).write(to: setup.directory.appendingPathComponent("victim.txt"))
            let client = try setup.attachedClient()
            guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["victim.txt"])), tag: 3) else {
                Issue.record("walk failed"); return
            }
            // One write: a Tclunk of an unknown fid (its Rlerror is queued, so closing must wait for
            // it to be written), a getattr under tag 5, the same tag again while it is in flight
            // (fatal), then more reuses and a Tremove that must never be forwarded.
            var burst = Frame(tag: 4, message: TMessage.clunk(Tclunk(fid: 99))).encode(dialect: .linux)
            let getattr = Frame(tag: 5, message: TMessage.getattr(Tgetattr(fid: 1, requestMask: 0x7ff))).encode(dialect: .linux)
            for _ in 0..<20 { burst += getattr }
            burst += Frame(tag: 7, message: TMessage.remove(Tremove(fid: 2))).encode(dialect: .linux)
            try client.sendRaw(burst)
            var replies: [Frame<RMessage>] = []
            while let reply = try client.receive() { replies.append(reply) }
            // The queued EBADF is written before the close; at most the first getattr is answered too.
            #expect(replies.first == Frame(tag: 4, message: .lerror(Rlerror(ecode: 9))), "\(replies)")
            #expect(replies.count <= 2 && replies.dropFirst().allSatisfy { $0.tag == 5 }, "\(replies)")
            // The session's close line comes only after diod answered all it was sent, so a
            // forwarded Tremove would have run by then.
            let peer = "peer=\(client.localAddress)"
            #expect(waitFor(10) { !logLines(setup.gateway.process, "session closed", peer).isEmpty }, "\(setup.gateway.process.log.suffix(3000))")
            #expect(!setup.diod.process.log.contains("P9_TREMOVE"), "the Tremove behind the fatal frame reached diod")
            #expect(FileManager.default.fileExists(atPath: setup.directory.appendingPathComponent("victim.txt").path),
                    "the Tremove behind the fatal frame removed the file")
            let closings = setup.gateway.process.log.components(separatedBy: "closing client connection").count - 1
            #expect(closings == 1, "the client was closed \(closings) times:\n\(setup.gateway.process.log.suffix(3000))")
        }

        @Test("a Tread and a Tclunk of one fid in one write, 2000 times: the Tclunk waits for the Tread, so the shared diod survives and a bystander is unaffected (diod freed the fid under the Tread and crashed within a second)")
        func readRacingClunk() throws {
            let fixture = try DiodBehindGateway("read-clunk")
            defer { fixture.stop() }
            try Data(repeating: 0x78, count: 4000).write(to: fixture.directory.appendingPathComponent("file"))
            let bystander = try fixture.attachedClient()
            let client = try fixture.attachedClient()
            for round in 0..<2000 {
                guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 3, wnames: ["file"])), tag: 10),
                      case .lopen = try client.rpc(.lopen(Tlopen(fid: 3, flags: 0)), tag: 11)
                else { Issue.record("round \(round): walk or open failed (is diod still up?)"); return }
                try client.sendRaw(Frame(tag: 12, message: TMessage.read(Tread(fid: 3, offset: 0, count: 4096))).encode(dialect: .linux)
                                   + Frame(tag: 13, message: TMessage.clunk(Tclunk(fid: 3))).encode(dialect: .linux))
                let first = try #require(try client.receive(), "round \(round): connection closed")
                let second = try #require(try client.receive(), "round \(round): connection closed")
                guard case let .read(read) = first.message, read.data.count == 4000, first.tag == 12,
                      second.tag == 13, second.message == .clunk(Rclunk())
                else { Issue.record("round \(round): got \(first.tag) \(first.message.type), \(second.tag) \(second.message.type)"); return }
            }
            #expect(fixture.diod.process.process.isRunning, "diod died:\n\(fixture.diod.process.log.suffix(2000))")
            guard case .getattr = try bystander.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff))) else {
                Issue.record("the bystander's session broke"); return
            }
        }

        @Test("a walk from an xattr fid and a rename of an open fid get EBADF, a read past an attribute's end gets nothing, a write past a new one's size EINVAL, and none reaches diod, which crashed on each; a walk from an open directory still works")
        func fragileFidKinds() throws {
            let fixture = try DiodBehindGateway("fid-kinds")
            defer { fixture.stop() }
            try FileManager.default.createDirectory(at: fixture.directory.appendingPathComponent("sub"), withIntermediateDirectories: true)
            let bystander = try fixture.attachedClient()
            let client = try fixture.attachedClient()
            // An xattr fid (the list of names: name ""), then a clone of it to read through.
            guard case .xattrwalk = try client.rpc(.xattrwalk(Txattrwalk(fid: 1, newfid: 5, name: ""))) else {
                Issue.record("Txattrwalk failed"); return
            }
            #expect(try client.rpc(.walk(Twalk(fid: 5, newfid: 6, wnames: []))) == .lerror(Rlerror(ecode: 9)))
            _ = try client.rpc(.read(Tread(fid: 6, offset: 0, count: 100)))  // diod's crash, had the walk gone through
            // Reading the attribute past its end: nothing (diod read out of bounds there and crashed).
            #expect(try client.rpc(.read(Tread(fid: 5, offset: UInt64(Int64.max), count: 100))) == .read(Rread(data: [])))
            // An xattr being created, written past the size it was given (diod 1.0.24 wrote outside its buffer).
            _ = try client.rpc(.walk(Twalk(fid: 1, newfid: 7, wnames: [])))
            if case .xattrcreate = try client.rpc(.xattrcreate(Txattrcreate(fid: 7, name: "user.pebble", attrSize: 4, flags: 0))) {
                #expect(try client.rpc(.write(Twrite(fid: 7, offset: UInt64.max, data: [0x61]))) == .lerror(Rlerror(ecode: 22)))
            } else {
                Issue.record("Txattrcreate failed")
            }
            // A fid opened by Tlcreate, then renamed.
            _ = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: [])))
            guard case .lcreate = try client.rpc(.lcreate(Tlcreate(fid: 2, name: "rn_a", flags: 0o102, mode: 0o644, gid: 0))) else {
                Issue.record("Tlcreate failed"); return
            }
            #expect(try client.rpc(.rename(Trename(fid: 2, dfid: 1, name: "rn_b"))) == .lerror(Rlerror(ecode: 9)))
            _ = try client.rpc(.clunk(Tclunk(fid: 2)))  // diod's assertion, had the rename gone through
            // diodls walks from the directory it has open: still allowed.
            _ = try client.rpc(.walk(Twalk(fid: 1, newfid: 3, wnames: [])))
            guard case .lopen = try client.rpc(.lopen(Tlopen(fid: 3, flags: 0))) else { Issue.record("Tlopen failed"); return }
            guard case .walk = try client.rpc(.walk(Twalk(fid: 3, newfid: 4, wnames: ["sub"]))) else {
                Issue.record("walk from an open directory refused"); return
            }
            #expect(fixture.diod.process.process.isRunning, "diod died:\n\(fixture.diod.process.log.suffix(2000))")
            guard case .getattr = try bystander.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff))) else {
                Issue.record("the bystander's session broke"); return
            }
        }

        @Test("an auth fid of diod (run with its default, auth required) is only read, written and clunked: a walk, open, getattr or rename with it gets EBADF and diod, which crashed on a Twalk from one, survives; its Tremove is a clunk (EPERM)")
        func authFidUses() throws {
            let fixture = try DiodBehindGateway("auth-fid", authRequired: true)
            defer { fixture.stop() }
            let bystander = try RawClient(port: fixture.gateway.port)
            _ = try bystander.negotiate()
            let client = try RawClient(port: fixture.gateway.port)
            _ = try client.negotiate()
            guard case .auth = try client.rpc(.auth(Tauth(afid: 5, uname: "", aname: WireString(fixture.directory.path), nUname: 0))) else {
                Issue.record("diod did not answer Tauth with Rauth"); return
            }
            let refused: [TMessage] = [
                .walk(Twalk(fid: 5, newfid: 6, wnames: [])),
                .lopen(Tlopen(fid: 5, flags: 0)),
                .getattr(Tgetattr(fid: 5, requestMask: 0x7ff)),
                .walk(Twalk(fid: 5, newfid: 5, wnames: ["a"])),
                .rename(Trename(fid: 5, dfid: 5, name: "x")),
            ]
            for request in refused {
                #expect(try client.rpc(request) == .lerror(Rlerror(ecode: 9)), "\(request.type)")
            }
            #expect(try client.rpc(.remove(Tremove(fid: 5))) == .lerror(Rlerror(ecode: 1)))
            // The number is free again: remove(5) clunked it.
            guard case .auth = try client.rpc(.auth(Tauth(afid: 5, uname: "", aname: WireString(fixture.directory.path), nUname: 0))) else {
                Issue.record("afid 5 not free after its Tremove"); return
            }
            // Every request that reached diod has been answered; a round trip of another session
            // through diod shows it is still up.
            guard case .auth = try bystander.rpc(.auth(Tauth(afid: 9, uname: "", aname: WireString(fixture.directory.path), nUname: 0))) else {
                Issue.record("the bystander's session broke"); return
            }
            #expect(fixture.diod.process.process.isRunning, "diod died:\n\(fixture.diod.process.log.suffix(2000))")
        }

        @Test("a file server answering with garbage (wrong tags and types, bad sizes, short Rreads, doubles, silence) never hurts the gateway")
        func hostileServer() throws {
            let serverPort = freePort()
            let server = try TestProcess(
                name: "garbage-server", executable: "/usr/bin/python3",
                arguments: [Paths.clients.appendingPathComponent("hostile_server.py").path, "--port", "\(serverPort)", "--mode", "garbage", "--seed", "7"])
            defer { server.stop() }
            try waitForPort(serverPort, process: server)
            let gateway = try GatewayProcess(backend: "tcp:127.0.0.1:\(serverPort)", extra: ["--drain-timeout", "1", "--log-level", "info"])
            defer { gateway.stop() }

            var replies = 0
            for round in 0..<60 {
                let client = try RawClient(port: gateway.port)
                var timeout = timeval(tv_sec: 0, tv_usec: 300_000)
                setsockopt(client.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                guard (try? client.negotiate()) != nil else { Issue.record("round \(round): no Rversion"); continue }
                let requests: [TMessage] = [
                    .attach(Tattach(fid: 1, afid: NineP.noFid, uname: "", aname: "/", nUname: 0)),
                    .walk(Twalk(fid: 1, newfid: 2, wnames: ["a"])),
                    .getattr(Tgetattr(fid: 1, requestMask: 0x7ff)),
                    .read(Tread(fid: 1, offset: 0, count: 4096)),
                    .clunk(Tclunk(fid: 2)),
                ]
                for (index, request) in requests.enumerated() {
                    // Whatever comes back (an answer, an error, nothing, a closed connection) is fine;
                    // the gateway must only stay up and keep serving.
                    guard (try? client.send(request, tag: UInt16(index))) != nil else { break }
                    guard let reply = try? client.readFrame() else { break }
                    replies += 1
                    _ = reply
                }
            }
            #expect(replies > 60, "only \(replies) replies: the server's garbage was hardly exercised")
            #expect(gateway.process.process.isRunning, "gateway died:\n\(gateway.process.log.suffix(3000))")
            let log = gateway.process.log
            #expect(!log.contains("crashed") && !log.contains("Fatal error"), "\(log.suffix(3000))")
            #expect(log.contains("file server sent a bad frame") && log.contains("file server answered unknown tag"),
                    "the garbage did not reach the interesting paths:\n\(log.suffix(3000))")
            // And it still negotiates with a new client.
            let last = try RawClient(port: gateway.port)
            #expect(try last.negotiate().version == "9P2000.L")
        }

        @Test("unknown type, R-message from a client, and a malformed Twalk get Rlerror with their tag")
        func errorsWithTags() throws {
            let setup = try Setup()
            defer { setup.stop() }
            let bystander = try setup.bystander()
            let client = try setup.attachedClient()
            let cases: [(String, [UInt8], UInt32)] = [
                ("unknown type 200", Self.frame(type: 200, tag: 11, body: [1, 2, 3]), 95),
                ("Rgetattr sent by a client", Self.frame(type: 25, tag: 12, body: []), 95),
                ("9P2000 Topen in a .L session", Self.frame(type: 112, tag: 13, body: [1, 0, 0, 0, 0]), 95),
                ("Twalk with nwname 17", Self.frame(type: 110, tag: 14, body: [1, 0, 0, 0, 2, 0, 0, 0, 17, 0]), 71),
                ("Tgetattr with a trailing byte", Self.frame(type: 24, tag: 15, body: [1, 0, 0, 0] + [UInt8](repeating: 0, count: 9)), 71),
                ("Tclunk of a fid never attached", Self.frame(type: 120, tag: 16, body: [99, 0, 0, 0]), 9),
            ]
            for (label, bytes, errno) in cases {
                try client.sendRaw(bytes)
                let reply = try #require(try client.receive(), "connection closed after \(label)")
                #expect(reply.tag == UInt16(bytes[5]) | UInt16(bytes[6]) << 8, "\(label)")
                guard case let .lerror(error) = reply.message else {
                    Issue.record("\(label): expected Rlerror, got \(reply.message.type)"); continue
                }
                #expect(error.ecode == errno, "\(label)")
            }
            // The session is still usable after all that.
            guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["file.txt"])), tag: 20) else {
                Issue.record("session unusable after errors"); return
            }
            try setup.checkBystander(bystander)
        }

        @Test("a frame larger than msize gets Rlerror with its tag and the connection is closed")
        func oversizedFrame() throws {
            let setup = try Setup()
            defer { setup.stop() }
            let bystander = try setup.bystander()
            let client = try RawClient(port: setup.gateway.port)
            #expect(try client.negotiate(msize: 8192).msize == 8192)
            var header = WireWriter()
            header.u32(1 << 30); header.u8(118); header.u16(77)
            try client.sendRaw(header.bytes)
            let reply = try #require(try client.receive())
            #expect(reply.tag == 77)
            if case let .lerror(error) = reply.message { #expect(error.ecode == 71) } else { Issue.record("expected Rlerror") }
            #expect(try client.readFrame() == nil, "connection should be closed")
            try setup.checkBystander(bystander)
        }

        @Test("garbage, a size below 7, and a frame cut short never hurt the gateway")
        func garbage() throws {
            let setup = try Setup()
            defer { setup.stop() }
            let bystander = try setup.bystander()
            let seed = testSeed("garbage")
            var generator = SplitMix64(seed: seed)
            for round in 0..<20 {
                let client = try RawClient(port: setup.gateway.port)
                if round % 2 == 0 { _ = try client.negotiate() }
                let junk = (0..<(1 + generator.below(600))).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                try? client.sendRaw(junk)
            }
            let tiny = try RawClient(port: setup.gateway.port)
            try tiny.sendRaw([3, 0, 0, 0, 100, 0xFF, 0xFF])
            let reply = try #require(try tiny.readFrame(), "no reply to a frame of size 3")
            #expect(reply[4] == MessageType.Rerror.rawValue, "\(reply)")
            #expect(try tiny.readFrame() == nil, "connection should be closed after size 3")

            // A frame cut short, then the client leaves: the gateway ends that session (its close
            // line is the sign) and the bystander goes on.
            let cutPeer: String
            do {
                let cut = try RawClient(port: setup.gateway.port)
                cutPeer = "peer=\(cut.localAddress)"
                _ = try cut.negotiate()
                try cut.sendRaw([100, 0, 0, 0, 24, 1, 0, 1, 0])   // promises 100 bytes, sends 9
            }
            #expect(waitFor(10) { !logLines(setup.gateway.process, "session closed", cutPeer).isEmpty },
                    "seed \(seed): no close for the client that left mid-frame:\n\(setup.gateway.process.log.suffix(2000))")
            try setup.checkBystander(bystander)
        }
    

        @Test("running out of fds pauses accepting instead of spinning, and recovers")
        func outOfFileDescriptors() throws {
            try requireTool("prlimit", install: "apt-get install -y util-linux")
            let directory = try makeTemporaryDirectory("emfile")
            defer { try? FileManager.default.removeItem(at: directory) }
            let diod = try DiodServer(exporting: directory)
            defer { diod.stop() }
            let port = freePort()
            let gateway = try TestProcess(
                name: "pebble9p", executable: which("prlimit")!,
                arguments: ["--nofile=48:48", Paths.gateway, "serve", "--listen", "127.0.0.1:\(port)", "--backend", diod.spec, "--loops", "1"])
            defer { gateway.stop() }
            try waitForPort(port, process: gateway)

            // Far more connections than 48 fds allow (each session needs two).
            var crowd: [RawClient] = []
            for _ in 0..<60 { if let client = try? RawClient(port: port) { crowd.append(client) } }
            // Depending on timing the fds run out at accept (paused) or at the backend dial (refused).
            #expect(waitFor(15) { gateway.log.contains("accept paused") || gateway.log.contains("Too many open files") },
                    "no log line for running out of fds:\n\(gateway.log.suffix(2000))")
            // Spinning is a thread that never sleeps: a loop retrying accept(2) on EMFILE is running
            // (state R) whenever it is looked at. Only a series of looks can show its absence, so
            // this is a bounded window of 100 looks; what is asserted is the threads' state, not a
            // duration. An idle gateway is seen running in a few looks at most (a timer firing).
            var running = 0
            for _ in 0..<100 {
                if try Self.threadStates(gateway.pid).contains("R") { running += 1 }
                usleep(5_000)
            }
            #expect(running <= 20, "a gateway thread was running in \(running) of 100 looks while out of fds")
            #expect(gateway.process.isRunning)

            // Once the crowd leaves, a new client is served (its receive waits up to 20 s).
            crowd.removeAll()
            let client = try RawClient(port: port)
            #expect(try client.negotiate().version == "9P2000.L")
        }

        /// The state letter of each thread of `pid` (R running, S sleeping, …) from /proc; throws
        /// when it cannot be read, so the check above never passes on an empty reading.
        static func threadStates(_ pid: Int32) throws -> [String] {
            let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
            return try tasks.map { task in
                let stat = try readWholeFile("/proc/\(pid)/task/\(task)/stat")
                // "pid (comm) S …": the state follows the last ')', since comm may hold spaces.
                guard let state = stat.split(separator: ")").last?.split(separator: " ").first else {
                    throw MissingTool(description: "unreadable /proc/\(pid)/task/\(task)/stat: \(stat)")
                }
                return String(state)
            }
        }

        @Test("3000 mutated frames after a real attach: the gateway and diod survive, and a bystander is unaffected (with writes going through, held: --blue on, and at msize 1 MiB, bridged to diod's 64 KiB, with large and sequential reads and large writes)",
              arguments: zip([[], ["--blue", "on"], ["--blue", "off"]], [UInt32(65536), 65536, 1_048_576]))
        func mutatedFrames(extra: [String], msize: UInt32) throws {
            let setup = try Setup(extra: extra, msize: msize)
            defer { setup.stop() }
            let bystander = try setup.bystander()
            // The seeds work on their own file: a mutation that leaves a Trename valid really
            // renames it, and the bystander's file.txt must not be the one that moves.
            try Data(repeating: 0x61, count: msize > 65536 ? 1 << 20 : 7).write(to: setup.directory.appendingPathComponent("target.txt"))
            // Bridged: reads and writes larger than diod's msize (split), reads in a run (read ahead).
            let large: [TMessage] = msize > 65536 ? [
                .read(Tread(fid: 2, offset: 0, count: 300_000)),
                .read(Tread(fid: 2, offset: 300_000, count: 300_000)),
                .read(Tread(fid: 2, offset: 600_000, count: 300_000)),
                .write(Twrite(fid: 2, offset: 5, data: Array(repeating: 0x62, count: 200_000))),
            ] : []
            let seeds: [TMessage] = large + [
                .walk(Twalk(fid: 1, newfid: 2, wnames: ["target.txt"])),
                .walk(Twalk(fid: 1, newfid: 3, wnames: [])),
                .lopen(Tlopen(fid: 2, flags: 0)),
                .read(Tread(fid: 2, offset: 0, count: 100)),
                .write(Twrite(fid: 2, offset: 0, data: Array("x".utf8))),
                .lopen(Tlopen(fid: 2, flags: 0o1002)),
                .setattr(Tsetattr(fid: 2, valid: 8, mode: 0, uid: 0, gid: 0, size: 3, atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0)),
                .fsync(Tfsync(fid: 2, datasync: 0)),
                .getattr(Tgetattr(fid: 1, requestMask: 0x7ff)),
                .readdir(Treaddir(fid: 3, offset: 0, count: 4096)),
                .lcreate(Tlcreate(fid: 3, name: "new", flags: 0o101, mode: 0o644, gid: 0)),
                .mkdir(Tmkdir(dfid: 1, name: "dir", mode: 0o755, gid: 0)),
                .rename(Trename(fid: 2, dfid: 1, name: "renamed")),
                .renameat(Trenameat(olddirfid: 1, oldname: "a", newdirfid: 1, newname: "b")),
                .xattrwalk(Txattrwalk(fid: 1, newfid: 4, name: "user.x")),
                .flush(Tflush(oldtag: 3)),
                .clunk(Tclunk(fid: 3)),
                .statfs(Tstatfs(fid: 1)),
            ]
            let seed = testSeed("mutated frames")
            var generator = SplitMix64(seed: seed)
            // A mutated tag or size may get the connection closed: then a new one takes over.
            // Bridged, each starts with fid 2 open on the target, so the large reads and writes
            // that survive their mutations are split.
            let hostileClient = { () throws -> RawClient in
                let client = try setup.bystander()
                if msize > 65536 {
                    _ = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["target.txt"])), tag: 1)
                    _ = try client.rpc(.lopen(Tlopen(fid: 2, flags: 2)), tag: 1)
                }
                return client
            }
            let client = try Self.sendMutated(seeds, dialect: .linux, burstBytes: 4096, generator: &generator,
                                              ping: .getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), newClient: hostileClient)
            // Once the last mutating session has closed, diod has answered all of it that was forwarded.
            let peer = "peer=\(client.localAddress)"
            shutdown(client.fd, Int32(SHUT_RDWR))
            #expect(waitFor(20) { !logLines(setup.gateway.process, "session closed", peer).isEmpty }, "seed \(seed): the last session never closed")
            #expect(setup.gateway.process.process.isRunning, "seed \(seed): gateway died:\n\(setup.gateway.process.log.suffix(2000))")
            #expect(setup.diod.process.process.isRunning, "seed \(seed): diod died")
            let handled = handledRequests(setup.gateway, excluding: bystander)
            #expect(handled >= 1500, "seed \(seed): the hostile sessions handled only \(handled) requests")
            if msize > 65536 {
                // The large seeds did reach the split path (mutations leave many of them valid).
                let split = logLines(setup.gateway.process, "session closed").contains { !$0.contains("split_requests=0 ") }
                #expect(split, "seed \(seed): no request was split:\n\(setup.gateway.process.log.suffix(2000))")
            }
            try setup.checkBystander(bystander)
            // A fresh session still works end to end.
            let fresh = try setup.bystander()
            try setup.checkBystander(fresh)
        }
    }
}

/// Requests the gateway handled in the sessions that closed, but `bystander`'s (from the close
/// lines' `requests=`): how much of a hostile test's input really reached it.
func handledRequests(_ gateway: GatewayProcess, excluding bystander: RawClient) -> Int {
    logLines(gateway.process, "session closed").filter { !$0.contains("peer=\(bystander.localAddress) ") }.reduce(0) { total, line in
        total + (line.split(separator: " ").first { $0.hasPrefix("requests=") }.flatMap { Int($0.dropFirst(9)) } ?? 0)
    }
}
