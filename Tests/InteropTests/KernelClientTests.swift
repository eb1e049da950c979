import Foundation
import Testing

extension Interop {
    /// The Linux kernel's own 9P client (v9fs, 9p2000.L) mounting through the gateway: qemu boots
    /// Debian's kernel with a small initrd, the guest mounts the gateway over a virtio-serial port
    /// (trans=fd) and runs a user's workload on the share, one checked line per step. The work is
    /// done by Tests/KernelClient/build, run and guest-init (see the README.md there).
    ///
    /// Plain TCP to the gateway, with Blue writes, through the TLS tunnel, and with a capability
    /// token as the aname.
    @Suite struct KernelClient {
        static let scripts = Paths.repository.appendingPathComponent("Tests/KernelClient")

        @Test("the Linux 9P client (v9fs under qemu) mounts through the gateway and passes every check of its workload, at msize 128 KiB and 1 MiB in front of diod's 64 KiB (msize bridging)",
              arguments: [131_072, 1_048_576])
        func plain(msize: Int) throws {
            let fixture = try DiodBehindGateway("kclient")
            defer { fixture.stop() }
            try Self.mountAndCheck(address: fixture.gateway.address, fixture: fixture, msize: msize)
            let closed = logLines(fixture.gateway.process, "session closed", "dialect=9P2000.L").first ?? ""
            #expect(closed.contains("msize=\(msize) ") && closed.contains("backend_msize=65536 "), "\(closed)")
            #expect(!closed.contains("split_requests=0 "), "the workload's large reads and writes went as pieces: \(closed)")
        }

        @Test("the same with Blue writes (--blue on): every write is held until the file is closed, then committed as an atomic replace; every check passes, and no temporary is left")
        func blue() throws {
            let port = freePort()
            // --blue-max 4M: small files are held in memory, the 20 MiB one streams to its temporary.
            let fixture = try DiodBehindGateway("kclient-blue", extra: ["--blue", "on", "--blue-max", "4M", "--metrics", "127.0.0.1:\(port)"])
            defer { fixture.stop() }
            try Self.mountAndCheck(address: fixture.gateway.address, fixture: fixture)
            let metrics = try Metrics.scrape(port)
            #expect((metrics["pebble9p_speculative_operations_total"] ?? 0) > 0 && (metrics["pebble9p_blue_commits_total{result=ok}"] ?? 0) > 0,
                    "the workload's writes were held and committed: \(metrics)")
            #expect(metrics["pebble9p_blue_commits_total{result=failed}"] == 0, "\(metrics)")
            #expect((metrics["pebble9p_blue_atomic_replaces_total"] ?? 0) > 0, "the saves were atomic replaces: \(metrics)")
            // The workload's pwrite into the middle of its 16 MiB file is an edit past --blue-max:
            // that one applies in place, as the README says; nothing else may.
            let inPlace = logLines(fixture.gateway.process, "commit in place").filter { !$0.contains("an edit of a file larger than blue-max") }
            #expect(inPlace.isEmpty, "\(inPlace)")
            let left = blueTemporaries(in: fixture.directory)
            #expect(left.isEmpty, "temporaries left: \(left)")
        }

        @Test("the same through the TLS tunnel: v9fs → pebble9p tunnel → TLS (client certificate) → serve → diod")
        func throughTLSTunnel() throws {
            let setup = try Tunnel.Setup("kclient-tls")
            defer { setup.stop() }
            try Self.mountAndCheck(address: setup.address, fixture: setup.tls.fixture)
            #expect(!logLines(setup.tls.fixture.gateway.process, "session closed", "identity=uri:spiffe://pebble9p.dev/alice").isEmpty,
                    "the kernel's session was not the tunnel's TLS identity")
        }

        @Test("the same with a capability token as the aname (mount -o aname=TOKEN, --require-token): every check passes and no refusal is logged")
        func withToken() throws {
            let work = try makeTemporaryDirectory("kclient-token-keys")
            defer { try? FileManager.default.removeItem(at: work) }
            let keys = work.appendingPathComponent("token.keys").path
            let audit = work.appendingPathComponent("audit.jsonl").path
            #expect(try runCommand(Paths.gateway, ["token", "keygen", "--key-file", keys, "--kid", "k1"]).status == 0)
            let mint = try runCommand(Paths.gateway, ["token", "mint", "--key-file", keys, "--kid", "k1", "--caveat", "path = /",
                                                      "--caveat", "from = 127.0.0.0/8", "--caveat", "expires = 2099-01-01T00:00:00Z"])
            try #require(mint.status == 0, "mint: \(mint.stderr)")
            let token = mint.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let export = try makeTemporaryDirectory("kclient-token")
            let fixture = try DiodBehindGateway("kclient-token", extra: ["--token-keys", keys, "--require-token", "--audit", audit,
                                                                         "--backend-aname", export.path], exporting: export)
            defer { fixture.stop() }
            try Self.mountAndCheck(address: fixture.gateway.address, fixture: fixture, aname: token)
            let events = (try? String(contentsOfFile: audit, encoding: .utf8)) ?? ""
            #expect(events.isEmpty, "refusals during the workload:\n\(events)")
        }

        /// Builds the guest (cached), mounts `fixture`'s export through `address` and checks the
        /// workload's result, the gateway's log and the export left empty. `aname`: what the guest
        /// mounts with (default the export's path); `msize`: what it asks for.
        static func mountAndCheck(address: String, fixture: DiodBehindGateway, aname: String? = nil, msize: Int = 131_072) throws {
            // diod acts as the user the guest attaches as (root): the export must be searchable.
            chmod(fixture.directory.path, 0o755)

            // Cached (PEBBLE9P_KERNEL_CACHE, default /var/cache/pebble9p-kernel): ~10 s the first
            // time on this machine, ~1 s after that. The first run on a new machine downloads ~75 MB.
            let build = try runCommand(Self.scripts.appendingPathComponent("build").path, [], timeout: 1200)
            try #require(build.status == 0, "Tests/KernelClient/build failed (status \(build.status)):\n\(Self.tail(build.stderr, lines: 40))")

            // run's own limit is the guest watchdog (240 s) + 45 s; this one only backs it up.
            let run = try runCommand("/usr/bin/env", ["KCLIENT_MSIZE=\(msize)", Self.scripts.appendingPathComponent("run").path,
                                                      address, aname ?? fixture.directory.path], timeout: 420)
            let guestLog = run.stdout
            let result = guestLog.split(separator: "\n").last(where: { $0.hasPrefix("KCLIENT RESULT: ") }).map(String.init)
            let failures = guestLog.split(separator: "\n").filter { $0.hasPrefix("KCLIENT FAIL") }
            // The session ends when qemu exits and closes its socket; the gateway logs it just after.
            // (waitForPort's probe was a session too, one that never negotiated.)
            let closedLine = { logLines(fixture.gateway.process, "session closed", "dialect=9P2000.L").first.map(String.init) }
            _ = waitFor(10) { closedLine() != nil }
            let closed = closedLine()
            let gatewayLog = fixture.gateway.process.log
            var context = "guest (tail of the serial log):\n" + Self.tail(guestLog, lines: 60)
            if !run.stderr.isEmpty { context += "\nrun's stderr:\n" + Self.tail(run.stderr, lines: 20) }
            context += "\ngateway log (tail):\n" + Self.tail(gatewayLog, lines: 30)

            #expect(run.status == 0, "run exited with status \(run.status)\n\(context)")
            #expect(result?.contains(" passed, 0 failed") == true, "result line: \(result ?? "none")\n\(context)")
            #expect(failures.isEmpty, "failed checks:\n\(failures.joined(separator: "\n"))\n\(context)")

            // StreamLogHandler lines read "TIMESTAMP LEVEL pebble9p: ..."; none at error or above.
            let errors = gatewayLog.split(separator: "\n").filter { line in
                let level = line.split(separator: " ", maxSplits: 2).dropFirst().first
                return level == "error" || level == "critical"
            }
            #expect(errors.isEmpty, "the gateway logged errors:\n\(errors.joined(separator: "\n"))")
            // The kernel clunks every fid before it lets go of the connection (umount comes first).
            #expect(closed?.contains("backend_fids_left=0") == true, "session closed line: \(closed ?? "none")\n\(context)")

            // The workload works in ANAME/kclient.<random> and removes it at the end.
            let left = try FileManager.default.contentsOfDirectory(atPath: fixture.directory.path)
            #expect(left.isEmpty, "the export still holds: \(left)")
        }

        /// The last `lines` lines of `text`.
        static func tail(_ text: String, lines: Int) -> String {
            text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
        }
    }
}
