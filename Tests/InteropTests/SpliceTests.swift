import Foundation
import NineP
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Interop {
    /// Payloads that arrive in pieces: the gateway passes the frame's head on at once and splices
    /// the rest socket to socket (cut-through), against a real diod.
    /// (`--blue off` wherever Twrites are spliced: Blue takes a held fid's writes in whole.)
    @Suite struct Splice {
        /// Sends `frame` as its first `headCount` bytes, then the rest in three pieces with pauses,
        /// so the gateway sees the frame's head long before its tail.
        static func sendInPieces(_ frame: [UInt8], headCount: Int, on client: RawClient) throws {
            let cuts = [0, headCount, headCount + (frame.count - headCount) / 3, headCount + 2 * (frame.count - headCount) / 3, frame.count]
            for (from, to) in zip(cuts, cuts.dropFirst()) where to > from {
                try client.sendRaw(Array(frame[from..<to]))
                usleep(20_000)
            }
        }

        /// The `bytes_spliced` of the session-close log lines so far, in order.
        static func splicedCounts(_ log: String) -> [Int] {
            log.split(separator: "\n").filter { $0.contains("session closed") }.compactMap { line in
                guard let range = line.range(of: "bytes_spliced=") else { return nil }
                return Int(line[range.upperBound...].prefix { $0.isNumber })
            }
        }

        static func waitForLog(_ gateway: GatewayProcess, _ condition: (String) -> Bool) -> Bool {
            waitFor(10) { condition(gateway.process.log) }
        }

        /// How the gateway reaches diod: over TCP, or its own diod per session on a socketpair (--export).
        enum Backend: String, Sendable { case tcp, export }

        @Test("Twrite and Rread data arriving in pieces reaches the file and the client bit-exact, spliced or not",
              arguments: zip([Backend.tcp, .tcp, .export], [1024, 0, 1024]))
        func piecesBitExact(backend: Backend, spliceMinimum: Int) throws {
            let directory = try makeExportDirectory("splice")
            defer { try? FileManager.default.removeItem(at: directory) }
            let extra = ["--splice-min", "\(spliceMinimum)", "--blue", "off"]
            let diod = backend == .tcp ? try DiodServer(exporting: directory) : nil
            let gateway = try diod.map { try GatewayProcess(backend: $0.spec, extra: extra) }
                ?? GatewayProcess(export: directory, extra: extra)
            defer {
                gateway.stop()
                diod?.stop()
            }
            var expected: [UInt8] = []
            var generator = SplitMix64(seed: testSeed("pieces (\(backend), splice-min \(spliceMinimum))"))
            let chunk = 60_000
            do {
                let client = try RawClient(port: gateway.port)
                _ = try client.negotiate()
                guard case .attach = try client.attach(aname: directory.path) else { Issue.record("attach failed"); return }
                _ = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: [])))
                guard case .lcreate = try client.rpc(.lcreate(Tlcreate(fid: 2, name: "pieces.bin", flags: 0o102, mode: 0o644, gid: 0))) else {
                    Issue.record("Tlcreate failed"); return
                }
                for index in 0..<8 {
                    let data = (0..<chunk).map { _ in UInt8.random(in: 0...255, using: &generator) }
                    let write = Twrite(fid: 2, offset: UInt64(index * chunk), data: data)
                    let frame = Frame(tag: UInt16(10 + index), message: TMessage.write(write)).encode(dialect: .linux)
                    try Self.sendInPieces(frame, headCount: NineP.twriteHeaderSize + 1000, on: client)
                    let reply = try #require(try client.receive())
                    #expect(reply.tag == UInt16(10 + index))
                    guard case let .write(written) = reply.message else { Issue.record("expected Rwrite, got \(reply.message)"); return }
                    #expect(written.count == UInt32(chunk))
                    expected += data
                }
                // Read it back in frames larger than the gateway's first reads: their tails are spliced.
                var readBack: [UInt8] = []
                while readBack.count < expected.count {
                    guard case let .read(read) = try client.rpc(.read(Tread(fid: 2, offset: UInt64(readBack.count), count: UInt32(chunk))), tag: 30) else {
                        Issue.record("expected Rread"); return
                    }
                    #expect(!read.data.isEmpty)
                    if read.data.isEmpty { break }
                    readBack += read.data
                }
                #expect(readBack == expected)
                // The session is still in step: a small request after all that is answered.
                guard case .clunk = try client.rpc(.clunk(Tclunk(fid: 2)), tag: 31) else { Issue.record("Tclunk failed"); return }
            }
            let onDisk = try Data(contentsOf: directory.appendingPathComponent("pieces.bin"))
            #expect(onDisk == Data(expected))

            #expect(Self.waitForLog(gateway) { Self.splicedCounts($0).count >= 2 }, "no session-close line")
            // The largest is the test session's (the readiness probe is a session too).
            let spliced = Self.splicedCounts(gateway.process.log).max() ?? -1
            if spliceMinimum > 0 {
                // At least the tails of the eight Twrites went by splice.
                #expect(spliced >= 8 * (chunk - 1000), "bytes_spliced=\(spliced); log:\n\(gateway.process.log.suffix(3000))")
            } else {
                #expect(spliced == 0, "--splice-min 0 spliced \(spliced) bytes")
            }
            // Every payload byte is counted once, on the path it took.
            let line = try #require(logLines(gateway.process, "session closed", "dialect=9P2000.L").first)
            let field = { (name: String) -> Int in
                line.split(separator: " ").first { $0.hasPrefix("\(name)=") }.flatMap { Int($0.dropFirst(name.count + 1)) } ?? -1
            }
            let (readZero, readCopied) = (field("bytes_read_zero_copy"), field("bytes_read_copied"))
            let (writtenZero, writtenCopied) = (field("bytes_written_zero_copy"), field("bytes_written_copied"))
            #expect(readZero + readCopied == expected.count && writtenZero + writtenCopied == expected.count, "\(line)")
            #expect(readZero + writtenZero == spliced, "\(line)")
            if spliceMinimum > 0 { #expect(writtenZero > 0 && readZero > 0, "\(line)") }
        }

        @Test("a Twrite refused by the gateway has its data dropped as it arrives; the session goes on")
        func refusedWriteIsDropped() throws {
            let fixture = try DiodBehindGateway("splice-refused", extra: ["--splice-min", "1024", "--blue", "off"])
            defer { fixture.stop() }
            let client = try fixture.attachedClient()
            let data = [UInt8](repeating: 0x41, count: 50_000)
            let frame = Frame(tag: 7, message: TMessage.write(Twrite(fid: 77, offset: 0, data: data))).encode(dialect: .linux)
            try Self.sendInPieces(frame, headCount: 500, on: client)
            let reply = try #require(try client.receive())
            #expect(reply.tag == 7)
            guard case let .lerror(error) = reply.message else { Issue.record("expected Rlerror, got \(reply.message)"); return }
            #expect(error.ecode == UInt32(EBADF))
            // The dropped data did not desynchronise the stream.
            guard case .getattr = try client.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7FF)), tag: 8) else {
                Issue.record("Tgetattr after the refused Twrite failed"); return
            }
        }

        @Test("a client that leaves in the middle of a spliced Twrite: its backend connection is closed, others go on")
        func clientLeavesMidWrite() throws {
            let fixture = try DiodBehindGateway("splice-leave", extra: ["--splice-min", "1024", "--blue", "off"])
            defer { fixture.stop() }
            do {
                let leaving = try fixture.attachedClient()
                _ = try leaving.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: [])))
                guard case .lcreate = try leaving.rpc(.lcreate(Tlcreate(fid: 2, name: "half.bin", flags: 0o102, mode: 0o644, gid: 0))) else {
                    Issue.record("Tlcreate failed"); return
                }
                let frame = Frame(tag: 5, message: TMessage.write(Twrite(fid: 2, offset: 0, data: [UInt8](repeating: 1, count: 60_000))))
                    .encode(dialect: .linux)
                try leaving.sendRaw(Array(frame.prefix(5_000)))
                // The gateway has taken in the head (and started the splice) before the client leaves.
                let clientPort = try #require(UInt16(leaving.localAddress.split(separator: ":").last ?? ""))
                #expect(waitFor(10) { (try? unreadBytes(localPort: fixture.gateway.port, remotePort: clientPort)) == 0 },
                        "the gateway never read the head")
            }
            #expect(Self.waitForLog(fixture.gateway) { $0.contains("client left in the middle of a write") },
                    "log:\n\(fixture.gateway.process.log.suffix(2000))")
            #expect(fixture.gateway.process.process.isRunning)
            #expect(fixture.diod.process.process.isRunning)
            let other = try fixture.attachedClient()
            guard case .getattr = try other.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7FF)), tag: 3) else {
                Issue.record("a new session after the cut write failed"); return
            }
        }

        @Test("a client that leaves mid-Twrite while diod still writes its read replies: the gateway drains diod's side before closing it, so a diod that SIGPIPE would kill lives on")
        func leavingDoesNotResetServer() throws {
            let fixture = try DiodBehindGateway("splice-linger", extra: ["--splice-min", "1024", "--blue", "off"], sigpipeKills: true)
            defer { fixture.stop() }
            try Data(count: 8 << 20).write(to: fixture.directory.appendingPathComponent("big"))
            for _ in 0..<3 {
                let leaving = try fixture.attachedClient()
                guard case .walk = try leaving.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["big"])), tag: 2),
                      case .lopen = try leaving.rpc(.lopen(Tlopen(fid: 2, flags: 2)), tag: 3) else {
                    Issue.record("cannot open big"); return
                }
                // 64 reads of 60000 (3.8 MB of replies diod is still writing), then half a Twrite, then gone.
                var burst: [UInt8] = []
                for tag in UInt16(10)..<74 { burst += Frame(tag: tag, message: TMessage.read(Tread(fid: 2, offset: 0, count: 60_000))).encode(dialect: .linux) }
                burst += Frame(tag: 200, message: TMessage.write(Twrite(fid: 2, offset: 0, data: [UInt8](repeating: 1, count: 60_000))))
                    .encode(dialect: .linux).prefix(5_000)
                try leaving.sendRaw(burst)
            }
            #expect(waitFor(10) { logLines(fixture.gateway.process, "client left in the middle of a write; closing the other side too").count == 3 },
                    "log:\n\(fixture.gateway.process.log.suffix(2000))")
            usleep(500_000)
            #expect(fixture.diod.process.process.isRunning, "diod died: \(fixture.diod.process.log.suffix(500))")
            let other = try fixture.attachedClient()
            guard case .getattr = try other.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7FF)), tag: 3) else {
                Issue.record("a new session after the cut writes failed"); return
            }
        }

        @Test("a server that dies in the middle of a spliced Rread: that client is cut off, the gateway goes on",
              arguments: [1024, 0])
        func serverLeavesMidReply(spliceMinimum: Int) throws {
            let serverPort = freePort()
            let server = try TestProcess(
                name: "truncating-server", executable: "/usr/bin/python3",
                arguments: [Paths.clients.appendingPathComponent("hostile_server.py").path, "--port", "\(serverPort)", "--mode", "truncate"])
            defer { server.stop() }
            try waitForPort(serverPort, process: server)
            let gateway = try GatewayProcess(backend: "tcp:127.0.0.1:\(serverPort)", extra: ["--splice-min", "\(spliceMinimum)", "--blue", "off"])
            defer { gateway.stop() }

            let client = try RawClient(port: gateway.port)
            _ = try client.negotiate()
            guard case .attach = try client.attach(aname: "/") else { Issue.record("attach failed"); return }
            try client.send(.read(Tread(fid: 1, offset: 0, count: 60_000)), tag: 4)
            // The reply can never be whole: the client sees the connection end, not a short frame.
            #expect(try client.readFrame() == nil)
            // Spliced or buffered, the session's close line says why.
            let peer = "peer=\(client.localAddress)"
            #expect(waitFor(10) { !logLines(gateway.process, "session closed", peer).isEmpty }, "log:\n\(gateway.process.log.suffix(2000))")
            #expect(logLines(gateway.process, "session closed", peer).first?.contains("reason=file server closed the connection in the middle of a reply") == true,
                    "log:\n\(gateway.process.log.suffix(2000))")
            #expect(gateway.process.process.isRunning)
            #expect(server.log.contains("closing in the middle of an Rread"))
            // The gateway still accepts and negotiates with the (restarted-per-connection) server.
            let next = try RawClient(port: gateway.port)
            #expect(try next.negotiate().version == "9P2000.L")
        }

        /// `hostile_server.py --mode trickle` on a unix socket (each of its 256-byte writes its own
        /// buffer), the gateway in front of it, and a client at msize 1 MiB that has sent 8 Treads of
        /// 1 048 000 bytes and reads nothing yet.
        final class TrickleSetup {
            static let count = 1_048_000, reads = 8
            let directory: URL
            let server: TestProcess
            let gateway: GatewayProcess
            let client: RawClient

            init(_ label: String, serverArguments: [String] = []) throws {
                let directory = try makeTemporaryDirectory(label)
                let socketPath = directory.appendingPathComponent("server.sock").path
                let server = try TestProcess(
                    name: "\(label)-server", executable: "/usr/bin/python3",
                    arguments: [Paths.clients.appendingPathComponent("hostile_server.py").path, "--unix", socketPath,
                                "--mode", "trickle", "--piece", "256", "--pause", "0", "--max-msize", "1048576"] + serverArguments)
                #expect(waitFor(10) { server.log.contains("listening") })
                var gateway: GatewayProcess?
                do {
                    gateway = try GatewayProcess(backend: "unix:\(socketPath)", extra: ["--loops", "1"])
                    client = try RawClient(port: gateway!.port)
                } catch {
                    // deinit does not run for an object that never finished its init.
                    gateway?.stop()
                    server.stop()
                    try? FileManager.default.removeItem(at: directory)
                    throw error
                }
                self.gateway = gateway!
                self.directory = directory
                self.server = server
                #expect(try client.negotiate(msize: 1 << 20).msize == 1 << 20)
                guard case .attach = try client.attach(aname: "/") else { throw MissingTool(description: "attach failed") }
                for index in 0..<Self.reads {
                    try client.send(.read(Tread(fid: 1, offset: 0, count: UInt32(Self.count))), tag: UInt16(10 + index))
                }
            }

            func stop() {
                gateway.stop()
                server.stop()
                try? FileManager.default.removeItem(at: directory)
            }

            deinit { stop() }

            /// Reads the 8 replies: each an Rread under its own tag, with the server's data whole.
            func expectRepliesWhole() throws {
                let expected = (0..<Self.count).map { UInt8($0 % 251) }
                for index in 0..<Self.reads {
                    let reply = try #require(try client.receive(), "connection closed before reply \(index)")
                    #expect(reply.tag == UInt16(10 + index))
                    guard case let .read(read) = reply.message else { Issue.record("expected Rread, got \(reply.message.type)"); return }
                    #expect(read.data == expected, "reply \(index) differs")
                }
            }
        }

        @Test("a 9P2000 directory read that arrives in pieces is not spliced past the gateway: stats that do not decode become EIO even with --splice-min 1024")
        func directoryReadNotSpliced() throws {
            let directory = try makeTemporaryDirectory("dirstats")
            defer { try? FileManager.default.removeItem(at: directory) }
            let socketPath = directory.appendingPathComponent("server.sock").path
            let server = try TestProcess(
                name: "dirstats-server", executable: "/usr/bin/python3",
                arguments: [Paths.clients.appendingPathComponent("hostile_server.py").path, "--unix", socketPath,
                            "--mode", "dirstats", "--piece", "256", "--pause", "0.001", "--count", "8000"])
            defer { server.stop() }
            #expect(waitFor(10) { server.log.contains("listening") })
            let gateway = try GatewayProcess(backend: "unix:\(socketPath)", extra: ["--loops", "1", "--splice-min", "1024", "--blue", "off"])
            defer { gateway.stop() }
            let client = try RawClient(port: gateway.port, dialect: .plan9)
            #expect(try client.negotiate(msize: 65536).version == "9P2000")
            guard case .attach = try client.attach(aname: "") else { Issue.record("attach failed"); return }
            guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: []))),
                  case .open = try client.rpc(.open(Topen(fid: 2, mode: 0))) else {
                Issue.record("walk or open failed"); return
            }
            #expect(try client.rpc(.read(Tread(fid: 2, offset: 0, count: 8000))) == .error(Rerror(ename: "Input/output error")))
            #expect(waitFor(5) { server.log.contains("sent the whole Rread") })
            // The session goes on.
            guard case .clunk = try client.rpc(.clunk(Tclunk(fid: 2))) else { Issue.record("clunk failed"); return }
        }

        @Test("a server that writes 1 MiB Rreads in 256-byte pieces to a client that reads nothing is still read to the end: what the pipe cannot hold goes to memory")
        func smallPiecesFillThePipe() throws {
            // On a unix socket each of the server's writes is its own buffer, and a pipe holds one
            // per slot: 256 slots take 64 KiB of such data, not 1 MiB. Once the gateway's socket
            // buffers towards the client are full, an Rread being spliced fills the pipe and, unless
            // the rest is read into memory, leaves the server's connection unread until the client reads.
            let setup = try TrickleSetup("trickle")
            defer { setup.stop() }
            let reads = TrickleSetup.reads
            // The client reads nothing until the server has written every reply (8 MiB, more than
            // the socket buffers between the gateway and a client that does not read take).
            let allSent = waitFor(60) {
                setup.server.log.components(separatedBy: "sent the whole Rread").count - 1 == reads
            }
            #expect(allSent, "the server could write only \(setup.server.log.components(separatedBy: "sent the whole Rread").count - 1) of \(reads) replies")
            try setup.expectRepliesWhole()
            _ = try setup.client.rpc(.clunk(Tclunk(fid: 1)))
            shutdown(setup.client.fd, Int32(SHUT_RDWR))
            #expect(Self.waitForLog(setup.gateway) { Self.splicedCounts($0).contains { $0 > 0 } },
                    "nothing was spliced:\n\(setup.gateway.process.log.suffix(1500))")
        }

        @Test("a server that closes right after writing its last Rread in small pieces: the client still gets every reply whole, then EOF")
        func closeAfterLastReply() throws {
            // As above, but the server closes once all 8 replies are written, while the one being
            // spliced still has its tail in the pipe (or in memory) behind a client that reads nothing.
            let setup = try TrickleSetup("trickle-close", serverArguments: ["--close-after", "8"])
            defer { setup.stop() }
            #expect(waitFor(30) { setup.server.log.contains("closing after the last Rread") })
            try setup.expectRepliesWhole()
            #expect(try setup.client.readFrame() == nil, "the gateway should close the client once the server is gone")
        }

        @Test("a server that sends the head of a large Rread for a tag never used, to a session with no fids: the session ends for that reason and nothing is read from its closed socket")
        func strayReplyHead() throws {
            let serverPort = freePort()
            let server = try TestProcess(
                name: "stray-server", executable: "/usr/bin/python3",
                arguments: [Paths.clients.appendingPathComponent("hostile_server.py").path, "--port", "\(serverPort)", "--mode", "stray"])
            defer { server.stop() }
            try waitForPort(serverPort, process: server)
            let gateway = try GatewayProcess(backend: "tcp:127.0.0.1:\(serverPort)", extra: ["--loops", "1"])
            defer { gateway.stop() }

            // Nothing held, nothing in flight, nothing queued for the client: closing the client
            // for the stray reply closes the backend at once, while its head is being handled.
            let client = try RawClient(port: gateway.port)
            #expect(try client.negotiate().version == "9P2000.L")
            #expect(try client.readFrame() == nil)
            // The server notes it after its write, which the gateway may act on first.
            #expect(waitFor(5) { server.log.contains("sent a stray Rread head") })
            // One loop: everything it logged about the first session precedes the second's Rversion.
            let next = try RawClient(port: gateway.port)
            #expect(try next.negotiate().version == "9P2000.L")
            let log = gateway.process.log
            #expect(log.contains("reason=file server answered unknown tag"), "log:\n\(log.suffix(2000))")
            #expect(!log.contains("in the middle of a reply"), "a splice read from the closed backend:\n\(log.suffix(2000))")
        }
    }
}
