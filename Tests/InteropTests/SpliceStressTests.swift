import Foundation
import NineP
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

extension Interop {
    /// Many clients at once sending large writes in random pieces, reading back, sending refused
    /// writes and leaving in the middle of frames: the cut-through path under concurrency.
    @Suite struct SpliceStress {
        /// What the workers found wrong, collected across threads.
        final class Findings: @unchecked Sendable {
            private let lock = NSLock()
            private var items: [String] = []
            func add(_ item: String) { lock.lock(); items.append(item); lock.unlock() }
            var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
        }

        struct WorkerError: Error, CustomStringConvertible { let description: String }

        /// A session attached to `directory` with fid 2 open read-write on `name` (created if new).
        static func openSession(port: UInt16, directory: String, name: String, create: Bool) throws -> RawClient {
            let client = try RawClient(port: port)
            _ = try client.negotiate()
            guard case .attach = try client.attach(aname: directory) else { throw WorkerError(description: "attach failed") }
            if create {
                _ = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: [])))
                guard case .lcreate = try client.rpc(.lcreate(Tlcreate(fid: 2, name: WireString(name), flags: 0o102, mode: 0o644, gid: 0))) else {
                    throw WorkerError(description: "Tlcreate \(name) failed")
                }
            } else {
                guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: [WireString(name)]))),
                      case .lopen = try client.rpc(.lopen(Tlopen(fid: 2, flags: 2)))
                else { throw WorkerError(description: "reopening \(name) failed") }
            }
            return client
        }

        /// Sends `frame` in 1–4 pieces with short pauses, the first at least `minimumHead` bytes.
        static func sendInRandomPieces(_ frame: [UInt8], minimumHead: Int, on client: RawClient, using generator: inout SplitMix64) throws {
            var cuts = [0, frame.count]
            for _ in 0..<Int.random(in: 0...3, using: &generator) where frame.count > minimumHead + 1 {
                cuts.append(Int.random(in: minimumHead..<frame.count, using: &generator))
            }
            cuts = Array(Set(cuts)).sorted()
            for (from, to) in zip(cuts, cuts.dropFirst()) {
                try client.sendRaw(Array(frame[from..<to]))
                usleep(UInt32.random(in: 0...3_000, using: &generator))
            }
        }

        /// One client's run; returns the file's expected contents.
        static func work(port: UInt16, directory: String, worker: Int, seed: UInt64, operations: Int) throws -> [UInt8] {
            var generator = SplitMix64(seed: seed)
            let name = "stress-\(worker).bin"
            var client = try openSession(port: port, directory: directory, name: name, create: true)
            var model: [UInt8] = []
            var tag: UInt16 = 10
            for step in 0..<operations {
                tag = tag == 60_000 ? 10 : tag + 1
                let roll = Int.random(in: 0..<100, using: &generator)
                if roll < 45 {
                    // A write of up to 60 000 bytes somewhere inside or just past the end.
                    let offset = Int.random(in: 0...model.count, using: &generator)
                    let data = (0..<Int.random(in: 1...60_000, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                    let frame = Frame(tag: tag, message: TMessage.write(Twrite(fid: 2, offset: UInt64(offset), data: data))).encode(dialect: .linux)
                    try sendInRandomPieces(frame, minimumHead: 1, on: client, using: &generator)
                    guard let reply = try client.receive(), reply.tag == tag, case let .write(written) = reply.message,
                          written.count == UInt32(data.count)
                    else { throw WorkerError(description: "step \(step): write of \(data.count) at \(offset) not acknowledged") }
                    if offset + data.count > model.count { model += [UInt8](repeating: 0, count: offset + data.count - model.count) }
                    model.replaceSubrange(offset..<(offset + data.count), with: data)
                } else if roll < 85 {
                    // A read of up to 60 000 bytes.
                    let offset = Int.random(in: 0...model.count, using: &generator)
                    let count = Int.random(in: 1...60_000, using: &generator)
                    guard case let .read(read) = try client.rpc(.read(Tread(fid: 2, offset: UInt64(offset), count: UInt32(count))), tag: tag) else {
                        throw WorkerError(description: "step \(step): read failed")
                    }
                    let expected = Array(model[offset..<min(model.count, offset + count)])
                    guard read.data == expected else {
                        throw WorkerError(description: "step \(step): read \(count) at \(offset) gave \(read.data.count) bytes, not the \(expected.count) written")
                    }
                } else if roll < 90 {
                    // A write whose count disagrees with its size: refused as malformed, data dropped.
                    var frame = Frame(tag: tag, message: TMessage.write(Twrite(fid: 2, offset: 0, data: [UInt8](repeating: 5, count: 30_000))))
                        .encode(dialect: .linux)
                    let count = UInt32(30_000 + Int.random(in: 1...100, using: &generator) * (Bool.random(using: &generator) ? 1 : -1))
                    frame.replaceSubrange(19..<23, with: withUnsafeBytes(of: count.littleEndian, Array.init))
                    try sendInRandomPieces(frame, minimumHead: 1, on: client, using: &generator)
                    guard let reply = try client.receive(), reply.tag == tag, case .lerror = reply.message else {
                        throw WorkerError(description: "step \(step): a Twrite with count \(count) for 30000 bytes was not refused")
                    }
                } else if roll < 95 {
                    // A write naming a fid the client does not hold: refused, its data dropped.
                    let frame = Frame(tag: tag, message: TMessage.write(Twrite(fid: 999, offset: 0, data: [UInt8](repeating: 7, count: 40_000))))
                        .encode(dialect: .linux)
                    try sendInRandomPieces(frame, minimumHead: 1, on: client, using: &generator)
                    guard let reply = try client.receive(), reply.tag == tag, case let .lerror(error) = reply.message, error.ecode == UInt32(EBADF) else {
                        throw WorkerError(description: "step \(step): the refused write was not answered with EBADF")
                    }
                } else {
                    // Leave in the middle of a large write, then come back: the write never happened.
                    let frame = Frame(tag: tag, message: TMessage.write(Twrite(fid: 2, offset: 0, data: [UInt8](repeating: 9, count: 50_000))))
                        .encode(dialect: .linux)
                    try client.sendRaw(Array(frame.prefix(Int.random(in: 30..<frame.count, using: &generator))))
                    client = try openSession(port: port, directory: directory, name: name, create: false)
                    // The cut session's file server connection is closed before its Twrite is whole.
                    usleep(50_000)
                }
            }
            guard case .clunk = try client.rpc(.clunk(Tclunk(fid: 2)), tag: 1) else { throw WorkerError(description: "final clunk failed") }
            return model
        }

        @Test("6 clients × 60 operations of large writes in pieces, reads, refused, malformed and cut writes: all data intact, nothing leaks")
        func concurrentPieces() throws {
            // --blue off: writes spliced to the server as they come, and kept when a client leaves.
            let fixture = try DiodBehindGateway("splice-stress", extra: ["--splice-min", "1024", "--blue", "off"])
            defer { fixture.stop() }
            let port = fixture.gateway.port
            let directory = fixture.directory.path
            let baseSeed = testSeed("splice stress")
            let findings = Findings()
            let models = ModelStore()
            DispatchQueue.concurrentPerform(iterations: 6) { worker in
                let seed = baseSeed &+ UInt64(worker)
                do {
                    models.set(worker, try Self.work(port: port, directory: directory, worker: worker, seed: seed, operations: 60))
                } catch {
                    findings.add("worker \(worker) (seed \(seed)): \(error)")
                }
            }
            #expect(findings.all.isEmpty, "\(findings.all)\ngateway log:\n\(fixture.gateway.process.log.suffix(3000))")
            for worker in 0..<6 {
                guard let model = models.get(worker) else { continue }
                let onDisk = try Data(contentsOf: fixture.directory.appendingPathComponent("stress-\(worker).bin"))
                #expect(onDisk == Data(model), "worker \(worker)'s file differs from what it wrote (base seed \(baseSeed))")
            }
            #expect(fixture.gateway.process.process.isRunning)
            #expect(fixture.diod.process.process.isRunning)
            // Every session has closed by now. Each clunked all its fids at the server, except the
            // ones cut in the middle of a write: their server connection was closed instead, which
            // makes diod drop their fids.
            let log = { fixture.gateway.process.log }
            #expect(waitFor(10) {
                log().components(separatedBy: "session closed").count == log().components(separatedBy: "session opened").count
            }, "sessions still open:\n\(log().suffix(3000))")
            let leaks = log().split(separator: "\n").filter {
                $0.contains("session closed") && !$0.contains("backend_fids_left=0") && !$0.contains("in the middle of a write")
            }
            #expect(leaks.isEmpty, "\(leaks)")
            // And the cut-through path was the one exercised.
            #expect(Splice.splicedCounts(log()).reduce(0, +) > 1 << 20, "little was spliced:\n\(log().suffix(2000))")
        }

        final class ModelStore: @unchecked Sendable {
            private let lock = NSLock()
            private var models: [Int: [UInt8]] = [:]
            func set(_ worker: Int, _ model: [UInt8]) { lock.lock(); models[worker] = model; lock.unlock() }
            func get(_ worker: Int) -> [UInt8]? { lock.lock(); defer { lock.unlock() }; return models[worker] }
        }
    }
}
