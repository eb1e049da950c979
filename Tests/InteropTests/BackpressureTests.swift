import Foundation
import NineP
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Interop {
    /// A client that sends requests but never reads replies must not grow the gateway's memory
    /// without bound, and must not slow down anyone else.
    @Suite struct Backpressure {
        /// VmRSS of `pid`; throws when it cannot be read, so a memory bound never passes on a 0.
        static func residentKiB(_ pid: Int32) throws -> Int {
            let status = try readWholeFile("/proc/\(pid)/status")
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            guard let kiB = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }), kiB > 0 else {
                throw MissingTool(description: "no VmRSS in /proc/\(pid)/status: \(line)")
            }
            return kiB
        }

        @Test("a client that never reads its replies is paused; the gateway's memory stays bounded")
        func slowReader() throws {
            // max-inflight 1000 would allow 64 MB of replies: the reads' counts are what must stop the client.
            let fixture = try DiodBehindGateway("backpressure", extra: ["--max-inflight", "1000", "--queue-limit", "131072", "--loops", "1"])
            defer { fixture.stop() }
            let gateway = fixture.gateway
            try Data(repeating: 0x5A, count: 1 << 20).write(to: fixture.directory.appendingPathComponent("one-mib.bin"))

            let slow = try RawClient(port: gateway.port)
            #expect(try slow.negotiate().msize == 65536)
            try slow.attach(aname: fixture.directory.path)
            _ = try slow.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["one-mib.bin"])))
            _ = try slow.rpc(.lopen(Tlopen(fid: 2, flags: 0)))
            let before = try Self.residentKiB(gateway.process.pid)

            // Up to 2 000 000 Treads of 64 KiB (46 MB of requests, far more than the socket buffers
            // between client and gateway can take), 1000 to a write, without reading a reply; writes
            // give up after 2 s once the gateway stops reading and the socket buffers fill.
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(slow.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var sent = 0
            let total = 2_000_000
            while sent < total {
                var batch: [UInt8] = []
                for index in sent..<(sent + 1000) {
                    let read = Tread(fid: 2, offset: UInt64(index % 16) << 16, count: 65_000)
                    batch += Frame(tag: UInt16(index % 60_000), message: TMessage.read(read)).encode(dialect: .linux)
                }
                do { try slow.sendRaw(batch) } catch { break }
                sent += 1000
            }
            #expect(sent < total, "the gateway kept reading a client that reads nothing")
            // The gateway has stopped reading; give the replies to what it read time to arrive
            // before measuring. No event says "nothing more will come" (diod's trace at this rate
            // would slow the test past its point), so this is a bounded settling window; the bound
            // asserted is on memory, not on time.
            usleep(500_000)
            let after = try Self.residentKiB(gateway.process.pid)
            // Bound: queue-limit queued for the client, queue-limit of reads in flight and one more
            // read (≈ 0.3 MiB), plus socket-level slack.
            #expect(after - before < 24 * 1024, "RSS grew from \(before) KiB to \(after) KiB")

            // Someone else is served normally meanwhile.
            let other = try RawClient(port: gateway.port)
            _ = try other.negotiate()
            guard case .attach = try other.attach(aname: fixture.directory.path) else {
                Issue.record("bystander attach failed"); return
            }

            // The slow client finally reads: its replies are intact Rreads, each for a tag it sent, once.
            var seen = Set<UInt16>()
            for _ in 0..<32 {
                let reply = try #require(try slow.receive())
                #expect(seen.insert(reply.tag).inserted, "tag \(reply.tag)")
                guard case let .read(read) = reply.message else { Issue.record("expected Rread, got \(reply.message.type)"); break }
                #expect(read.data.count == 65_000)
                #expect(read.data.allSatisfy { $0 == 0x5A })
            }
        }

        @Test("a server that stops reading pauses its client; memory stays bounded, and every write lands once it reads again")
        func slowServer() throws {
            // --blue off: the writes must go to the server as they come (Blue would hold them).
            let fixture = try DiodBehindGateway("slow-server", extra: ["--max-inflight", "4096", "--queue-limit", "131072", "--loops", "1", "--blue", "off"])
            defer { fixture.stop() }
            let gateway = fixture.gateway
            let diod = fixture.diod.process.pid
            let client = try fixture.attachedClient()
            _ = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: [])))
            guard case .lcreate = try client.rpc(.lcreate(Tlcreate(fid: 2, name: "sink.bin", flags: 0o1, mode: 0o644, gid: 0))) else {
                Issue.record("Tlcreate failed"); return
            }
            let before = try Self.residentKiB(gateway.process.pid)

            // diod stops (SIGSTOP, by pid): it reads nothing more. Up to 4000 Twrites of 65 000 bytes
            // (260 MB; max-inflight allows them all, so only the queue limit can pause the client)
            // go out until a send has made no progress for 2 s.
            #expect(freeze(diod))
            defer { kill(diod, SIGCONT) }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(client.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let chunk = 65_000, total = 4000
            func frame(_ index: Int) -> [UInt8] {
                let write = Twrite(fid: 2, offset: UInt64(index * chunk), data: [UInt8](repeating: UInt8(truncatingIfNeeded: index &* 37), count: chunk))
                return Frame(tag: UInt16(index), message: TMessage.write(write)).encode(dialect: .linux)
            }
            var index = 0, current = frame(0), offset = 0
            sending: while index < total {
                while offset < current.count {
                    let written = current[offset...].withUnsafeBytes { send(client.fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
                    if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break sending }
                    guard written > 0 else { Issue.record("send failed: errno \(errno)"); return }
                    offset += written
                }
                index += 1
                if index < total { current = frame(index); offset = 0 }
            }
            #expect(index < total, "the gateway kept reading a client whose server reads nothing")
            let grown = try Self.residentKiB(gateway.process.pid) - before
            // Bound: queue-limit (128 KiB) per direction plus one frame being read, plus allocator slack.
            #expect(grown < 24 * 1024, "RSS grew by \(grown) KiB while diod was stopped")

            // diod goes on: the frame cut by the timeout is finished, and every write is answered,
            // each under its own tag, and reaches the file in full.
            kill(diod, SIGCONT)
            timeout = timeval(tv_sec: 0, tv_usec: 0)
            setsockopt(client.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let frames = index < total ? index + 1 : total
            if offset < current.count { try client.sendRaw(Array(current[offset...])) }
            var answered = Set<UInt16>()
            for _ in 0..<frames {
                let reply = try #require(try client.receive(), "the gateway closed the connection")
                guard case let .write(written) = reply.message, written.count == UInt32(chunk) else {
                    Issue.record("expected Rwrite of \(chunk), got \(reply.message)"); return
                }
                #expect(answered.insert(reply.tag).inserted, "tag \(reply.tag) answered twice")
            }
            #expect(answered.count == frames && answered.allSatisfy { Int($0) < frames })
            _ = try client.rpc(.clunk(Tclunk(fid: 2)))
            let data = try Data(contentsOf: fixture.directory.appendingPathComponent("sink.bin"))
            try #require(data.count == frames * chunk, "file has \(data.count) bytes, expected \(frames * chunk)")
            for frameIndex in 0..<frames {
                let expected = UInt8(truncatingIfNeeded: frameIndex &* 37)
                let start = frameIndex * chunk
                guard data[start..<(start + chunk)].allSatisfy({ $0 == expected }) else {
                    Issue.record("write \(frameIndex) did not land intact"); return
                }
            }
        }

        @Test("at max-inflight with the server's requests blocked (opens of a FIFO), a Tflush still gets through: held requests are flushed at once, blocked ones through diod (one flush each)")
        func flushPastTheLimit() throws {
            let fixture = try DiodBehindGateway("fifo", debug: true, extra: ["--max-inflight", "1"])
            defer { fixture.stop() }
            // The Tlopen (tag 10) blocked at diod is the session's one request at the server.
            let (client, fifo) = try fixture.clientBlockedOnFIFO()
            try client.send(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), tag: 11)   // held
            try client.send(.flush(Tflush(oldtag: 11)), tag: 12)
            let first = try #require(try client.receive(), "no answer to the Tflush of a held request")
            #expect(first.tag == 12 && first.message == .flush(Rflush()), "\(first)")
            try client.send(.flush(Tflush(oldtag: 10)), tag: 13)
            // A second flush of it waits for the first (diod gets one) and is answered right after it.
            try client.send(.flush(Tflush(oldtag: 10)), tag: 15)
            // Once diod has the flush, give the FIFO a writer (the open is still blocked there).
            #expect(waitFor(15) { fixture.diod.process.log.contains("P9_TFLUSH") }, "diod never got the Tflush")
            #expect(try fixture.diod.blockedOpeningFIFO(), "diod's open ended before the FIFO got a writer")
            #expect(fixture.releaseFIFO(fifo), "the FIFO has no reader: diod's open did not start (errno \(errno))")
            // Until the last Rflush: the lopen's reply, if diod sends one, comes before them.
            var tags: [UInt16] = []
            while tags.last != 15, let reply = try client.receive() {
                tags.append(reply.tag)
                if reply.tag != 10 { #expect(reply.message == .flush(Rflush())) }
            }
            #expect(tags == [13, 15] || tags == [10, 13, 15], "replies \(tags)")
            // Nothing of the flushed getattr ever arrives, and the session goes on.
            guard case .getattr = try client.rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), tag: 14) else {
                Issue.record("the session did not go on"); return
            }
        }

        @Test("a client being closed while its last replies wait is read no more: what it keeps sending stays in its socket")
        func closingClientIsNotRead() throws {
            let fixture = try DiodBehindGateway("closing", extra: ["--loops", "1"])
            defer { fixture.stop() }
            let gateway = fixture.gateway
            try Data(repeating: 1, count: 1 << 20).write(to: fixture.directory.appendingPathComponent("blob"))
            let client = try fixture.attachedClient()
            _ = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["blob"])))
            _ = try client.rpc(.lopen(Tlopen(fid: 2, flags: 0)))
            let before = try Self.residentKiB(gateway.process.pid)
            // 64 reads of 65 000 bytes, replies unread (more than the socket buffers take, so some
            // wait in the gateway), then, in the same write, tag 10 again while in flight: fatal,
            // and the gateway closes the client once its queue is written or after 2 s. (Sent
            // later, the reuse could find the gateway no longer reading: its queue full.)
            var burst: [UInt8] = []
            for index in 0..<64 {
                burst += Frame(tag: UInt16(10 + index), message: TMessage.read(Tread(fid: 2, offset: 0, count: 65_000))).encode(dialect: .linux)
            }
            burst += Frame(tag: 10, message: TMessage.getattr(Tgetattr(fid: 1, requestMask: 1))).encode(dialect: .linux)
            try client.sendRaw(burst)
            let peer = "peer=\(client.localAddress)"
            #expect(waitFor(15) { !logLines(gateway.process, "closing client connection", peer).isEmpty },
                    "\(gateway.process.log.suffix(2000))")
            // Within those 2 s the client sends up to 64 MiB more.
            var timeout = timeval(tv_sec: 0, tv_usec: 500_000)
            setsockopt(client.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let junk = [UInt8](repeating: 0x41, count: 1 << 20)
            var sent = 0
            while sent < 64 {
                let written = junk.withUnsafeBytes { send(client.fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
                guard written == junk.count else { break }
                sent += 1
            }
            let grown = try Self.residentKiB(gateway.process.pid) - before
            #expect(sent < 64, "the gateway kept reading a client it is closing")
            #expect(grown < 24 * 1024, "RSS grew by \(grown) KiB while the client was being closed")
            let closings = gateway.process.log.components(separatedBy: "closing client connection").count - 1
            #expect(closings == 1, "\(gateway.process.log.suffix(2000))")
        }

        @Test("idle sessions hold small buffers: 200 of them cost well under 256 KiB each")
        func idleSessionsAreSmall() throws {
            let fixture = try DiodBehindGateway("idle", extra: ["--log-level", "warning"])
            defer { fixture.stop() }
            let gateway = fixture.gateway
            try Data(repeating: 1, count: 1 << 20).write(to: fixture.directory.appendingPathComponent("blob"))
            // Warm up the allocator with one busy session, so its arenas are not counted below.
            _ = try fixture.attachedClient()    // released, so disconnected, right away
            let before = try Self.residentKiB(gateway.process.pid)
            var sessions: [RawClient] = []
            for _ in 0..<200 {
                let client = try fixture.attachedClient()
                // One 64 KiB read each, so every buffer has seen a large frame and must have shrunk back.
                _ = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["blob"])))
                _ = try client.rpc(.lopen(Tlopen(fid: 2, flags: 0)))
                guard case .read = try client.rpc(.read(Tread(fid: 2, offset: 0, count: 65_000))) else {
                    Issue.record("read failed"); return
                }
                sessions.append(client)
            }
            let grown = try Self.residentKiB(gateway.process.pid) - before
            #expect(grown < 200 * 256, "200 idle sessions took \(grown) KiB")
        }
    }
}
