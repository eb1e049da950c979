import Foundation
import NineP
import Testing

extension Interop {
    /// Read-ahead in front of a real diod, whose message trace counts the reads that reached it.
    @Suite struct ReadAhead {
        /// Reads that reached diod so far (its trace has one P9_TREAD line per Tread).
        static func readsAtDiod(_ fixture: DiodBehindGateway) -> Int {
            fixture.diod.process.log.split(separator: "\n").filter { $0.contains("P9_TREAD ") || $0.hasSuffix("P9_TREAD") }.count
        }

        /// `count` sequential reads of `size` bytes of `name` through a fresh session (tags 10…);
        /// returns the data and the reads diod got for them once the session has closed. With
        /// `failing`, the reads are expected to fail (diod reads with pread(2): ESPIPE on a FIFO).
        static func readSequentially(_ fixture: DiodBehindGateway, _ name: String, count: Int, size: UInt32,
                                     failing: Bool = false) throws -> (data: [UInt8], atDiod: Int) {
            let before = readsAtDiod(fixture)
            let closedBefore = logLines(fixture.gateway.process, "session closed", "dialect=9P2000.L").count
            var data: [UInt8] = []
            do {
                let client = try fixture.attachedClient()
                guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: [WireString(name)]))),
                      case .lopen = try client.rpc(.lopen(Tlopen(fid: 2, flags: 0))) else {
                    Issue.record("walk or open of \(name) failed"); return ([], 0)
                }
                for index in 0..<count {
                    let reply = try client.rpc(.read(Tread(fid: 2, offset: UInt64(index) * UInt64(size), count: size)), tag: UInt16(10 + index))
                    switch reply {
                    case let .read(read): data += read.data
                    case .lerror where failing: continue
                    default: Issue.record("read \(index) of \(name): \(reply)")
                    }
                }
                _ = try client.rpc(.clunk(Tclunk(fid: 2)))
            }
            _ = waitFor(10) { logLines(fixture.gateway.process, "session closed", "dialect=9P2000.L").count > closedBefore }
            usleep(200_000)  // diod's trace of the last replies
            return (data, readsAtDiod(fixture) - before)
        }

        @Test("a regular file read sequentially is read ahead (diod gets more reads than the client sends), bit-exact; a FIFO and a --no-read-ahead file never are")
        func onlyWhereReadsHaveNoEffects() throws {
            let fixture = try DiodBehindGateway("read-ahead", debug: true, extra: ["--no-read-ahead", "ctl"])
            defer { fixture.stop() }
            let content = (0..<400_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 9) }
            try Data(content).write(to: fixture.directory.appendingPathComponent("data.bin"))
            try Data(content).write(to: fixture.directory.appendingPathComponent("ctl"))

            let regular = try Self.readSequentially(fixture, "data.bin", count: 6, size: 10_000)
            #expect(regular.data == Array(content[..<60_000]))
            #expect(regular.atDiod > 6, "no read was made ahead: diod got \(regular.atDiod) reads")
            #expect(!logLines(fixture.gateway.process, "session closed", "read_ahead_hits=").filter { !$0.contains("read_ahead_hits=0 ") }.isEmpty)

            let control = try Self.readSequentially(fixture, "ctl", count: 6, size: 10_000)
            #expect(control.data == Array(content[..<60_000]))
            #expect(control.atDiod == 6, "a --no-read-ahead file was read ahead: diod got \(control.atDiod) reads for 6")

            // A FIFO with a writer that keeps it open: its reads take its data, which no read ahead may.
            let fifo = fixture.directory.appendingPathComponent("pipe").path
            #expect(mkfifo(fifo, 0o666) == 0)
            let writer = open(fifo, O_RDWR | O_NONBLOCK)
            #expect(writer >= 0)
            defer { close(writer) }
            let piped = Array(content[..<60_000])
            #expect(piped.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) } == piped.count)
            // diod 1.0.24 reads with pread(2), which a FIFO refuses (ESPIPE): the client's reads fail,
            // and what matters is that no read was made ahead of them.
            let fromFifo = try Self.readSequentially(fixture, "pipe", count: 4, size: 1000, failing: true)
            #expect(fromFifo.atDiod == 4, "a FIFO was read ahead: diod got \(fromFifo.atDiod) reads for 4")
            var rest = [UInt8](repeating: 0, count: 70_000)
            let left = rest.withUnsafeMutableBytes { read(writer, $0.baseAddress, $0.count) }
            #expect(left == piped.count - fromFifo.data.count, "the FIFO lost \(piped.count - fromFifo.data.count - left) bytes no client read")
        }
    }
}
