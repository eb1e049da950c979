import Foundation
import Testing

extension Interop {
    /// msize bridging with real clients in front of a real diod, whose msize is 64 KiB: the
    /// clients use 1 MiB, and their large reads and writes reach diod as pieces.
    @Suite struct Bridging {
        /// The gateway's close line of a session that negotiated 1 MiB in front of diod's 64 KiB,
        /// and its client requests split into pieces or answered by reads made ahead (which are split too).
        static func bridgedSession(_ gateway: GatewayProcess) -> (line: String, splits: Int)? {
            guard let line = logLines(gateway.process, "session closed", "msize=1048576", "backend_msize=65536").first else { return nil }
            let field = { (name: String) in
                line.split(separator: " ").first { $0.hasPrefix("\(name)=") }.flatMap { Int($0.dropFirst(name.count + 1)) } ?? 0
            }
            return (String(line), field("split_requests") + field("read_ahead_hits"))
        }

        @Test("diodcat -m 1048576 reads a 1 GiB file bit-exact; the session log shows client msize 1 MiB, diod's 64 KiB, and split reads")
        func diodcatGiB() throws {
            let fixture = try DiodBehindGateway("bridge-diodcat")
            defer { fixture.stop() }
            let source = fixture.directory.appendingPathComponent("big.bin")
            try runCommand("/bin/sh", ["-c", "head -c 1073741824 /dev/urandom > '\(source.path)'"], timeout: 120)
            let result = try runCommand("/bin/sh", ["-c", "'\(which("diodcat")!)' -m 1048576 -s \(fixture.gateway.address) -a '\(fixture.directory.path)' big.bin | cmp - '\(source.path)'"],
                                        timeout: 300)
            #expect(result.status == 0, "diodcat through the gateway differs or failed: \(result.stdout) \(result.stderr)")
            #expect(waitFor(10) { Self.bridgedSession(fixture.gateway) != nil }, "\(fixture.gateway.process.log.suffix(2000))")
            let session = try #require(Self.bridgedSession(fixture.gateway))
            #expect(session.splits >= 1024, "1 GiB in reads of at most 1 MiB: \(session.line)")
            #expect(!session.line.contains("read_ahead_hits=0 "), "diodcat reads sequentially: \(session.line)")
        }

        @Test("p9fs at msize 1 MiB writes and reads back files of odd sizes bit-exact, its writes and reads split for diod")
        func p9fsMiB() throws {
            let fixture = try DiodBehindGateway("bridge-p9fs")
            defer { fixture.stop() }
            let result = try runPythonScenario("p9fs_scenario.py", ["--port", "\(fixture.gateway.port)", "--aname", fixture.directory.path,
                                                                    "--version", "9P2000.L", "--msize", "1048576", "--big-mib", "9"])
            #expect(result.status == 0, "p9fs at 1 MiB failed:\nstdout: \(result.stdout)\nstderr: \(result.stderr)\ngateway log:\n\(fixture.gateway.process.log.suffix(3000))")
            #expect(result.stdout.contains("\"msize\": 1048576"), "p9fs did not get msize 1 MiB: \(result.stdout)")
            #expect(waitFor(10) { Self.bridgedSession(fixture.gateway) != nil }, "\(fixture.gateway.process.log.suffix(2000))")
            let session = try #require(Self.bridgedSession(fixture.gateway))
            #expect(session.splits > 0, "\(session.line)")
        }
    }
}
