import Foundation
import NineP
import TestSupport
import Testing

extension Interop {
    /// TLS termination: real TLS clients (OpenSSL's s_client, Python's ssl in
    /// clients/tls_9p_client.py) against `serve --tls-listen`, with certificates made by
    /// certs/make-dev-certs.sh in a temporary directory.
    @Suite struct TLS {
        /// certs/make-dev-certs.sh's output in a fresh directory, removed with the fixture.
        final class Certificates {
            let directory: URL

            init() throws {
                try requireTool("openssl", install: "apt-get install -y openssl")
                directory = try makeTemporaryDirectory("certs")
                let made = try runCommand(Paths.repository.appendingPathComponent("certs/make-dev-certs.sh").path, [directory.path], timeout: 60)
                guard made.status == 0 else {
                    throw MissingTool(description: "certs/make-dev-certs.sh failed: \(made.stderr)")
                }
            }

            func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

            deinit { try? FileManager.default.removeItem(at: directory) }
        }

        /// diod, and the gateway with a plain port and a TLS port in front of it.
        final class Setup {
            let certificates: Certificates
            let fixture: DiodBehindGateway
            let tlsPort: UInt16

            /// `tlsFlags` are the TLS flags besides the server's certificate and key; by default
            /// `--client-ca`, so client certificates are required.
            /// `exporting`: the export directory, made by the caller (so `tlsFlags` may name it).
            init(_ label: String, exporting: URL? = nil,
                 tlsFlags: (Certificates) -> [String] = { ["--client-ca", $0.path("ca.pem")] }) throws {
                certificates = try Certificates()
                tlsPort = freePort()
                let flags = tlsFlags(certificates)
                fixture = try DiodBehindGateway(label, extra: [
                    "--tls-listen", "127.0.0.1:\(tlsPort)", "--tls-cert", certificates.path("server.pem"),
                    "--tls-key", certificates.path("server.key"),
                ] + flags, exporting: exporting)
                try waitForPort(tlsPort, process: fixture.gateway.process)
                chmod(fixture.directory.path, 0o755)
            }

            var log: String { fixture.gateway.process.log }

            /// Runs tls_9p_client.py as `client` (a certificate name, or nil for none).
            func client(_ client: String?, _ arguments: [String], port: UInt16? = nil) throws -> (status: Int32, reply: [String: Any]) {
                var words = ["--port", "\(port ?? tlsPort)", "--ca", certificates.path("ca.pem"), "--aname", fixture.directory.path]
                if let client { words += ["--cert", certificates.path("\(client).pem"), "--key", certificates.path("\(client).key")] }
                let result = try runCommand("/usr/bin/python3", [Paths.clients.appendingPathComponent("tls_9p_client.py").path] + words + arguments,
                                            timeout: 120)
                let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
                let reply = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? ["unparsed": result.stdout + result.stderr]
                return (result.status, reply)
            }

            /// openssl s_client's output for a handshake with `arguments` added.
            func sClient(_ arguments: [String]) throws -> String {
                let result = try runCommand("openssl", ["s_client", "-connect", "127.0.0.1:\(tlsPort)", "-CAfile", certificates.path("ca.pem")] + arguments,
                                            timeout: 30)
                return result.stdout + result.stderr
            }

            func stop() { fixture.stop() }
        }

        static func sha256(_ path: URL) throws -> String {
            try runCommand("sha256sum", [path.path], timeout: 30).stdout.split(separator: " ").first.map(String.init) ?? ""
        }

        @Test("openssl s_client completes TLS 1.3 with a client certificate and sees ALPN 9p; a client offering only h2 is refused")
        func alpn() throws {
            let setup = try Setup("tls-alpn")
            defer { setup.stop() }
            let certificate = ["-cert", setup.certificates.path("alice.pem"), "-key", setup.certificates.path("alice.key"), "-verify_return_error"]
            let agreed = try setup.sClient(["-alpn", "9p"] + certificate)
            #expect(agreed.contains("New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256"), "\(agreed)")
            #expect(agreed.contains("ALPN protocol: 9p"), "\(agreed)")
            #expect(agreed.contains("Verify return code: 0 (ok)"), "\(agreed)")
            let refused = try setup.sClient(["-alpn", "h2"] + certificate)
            #expect(refused.contains("no application protocol"), "\(refused)")
            #expect(waitFor(10) { setup.log.contains("reason=error:0A0000EB:SSL routines::no application protocol") }, "\(setup.log.suffix(2000))")
        }

        @Test("with client certificates required, a 4 MiB file is read and an 8 MiB one written and read back bit-exact; the session's identity is the certificate's SAN URI or DNS name")
        func mutualTLS() throws {
            let setup = try Setup("tls-mtls")
            defer { setup.stop() }
            let file = setup.fixture.directory.appendingPathComponent("four.bin")
            _ = try runCommand("/bin/sh", ["-c", "head -c 4194304 /dev/urandom > \(file.path)"], timeout: 30)
            let read = try setup.client("alice", ["--read", "four.bin"])
            #expect(read.status == 0, "\(read.reply)")
            #expect(read.reply["read_sha256"] as? String == (try Self.sha256(file)))
            #expect(read.reply["protocol"] as? String == "TLSv1.3" && read.reply["alpn"] as? String == "9p", "\(read.reply)")
            let written = try setup.client("bob", ["--write", "eight.bin", "--size", "8388608", "--seed", "5"])
            #expect(written.status == 0, "\(written.reply)")
            #expect(written.reply["read_sha256"] as? String == written.reply["written_sha256"] as? String)
            #expect(try Self.sha256(setup.fixture.directory.appendingPathComponent("eight.bin")) == written.reply["written_sha256"] as? String)
            let closed = { logLines(setup.fixture.gateway.process, "session closed", "dialect=9P2000.L") }
            #expect(waitFor(10) { closed().count == 2 }, "\(setup.log.suffix(2000))")
            #expect(closed().contains { $0.contains("identity=uri:spiffe://pebble9p.dev/alice") && $0.contains("reason=client closed") }, "\(closed())")
            #expect(closed().contains { $0.contains("identity=dns:bob.pebble9p.dev") && $0.contains("backend_fids_left=0") }, "\(closed())")
            #expect(!closed().contains { $0.contains("bytes_spliced=") && !$0.contains("bytes_spliced=0") }, "a TLS leg was spliced")
            // The TLS path in use is logged; without the kernel's tls ULP it is user space.
            let ulp = (try? readWholeFile("/proc/sys/net/ipv4/tcp_available_ulp")) ?? ""
            if !ulp.split(whereSeparator: \.isWhitespace).contains("tls") {
                #expect(setup.log.contains("path=user-space TLS"), "\(setup.log.prefix(1500))")
                #expect(logLines(setup.fixture.gateway.process, "TLS established").allSatisfy { $0.contains("ktls=off") })
            } else {
                #expect(setup.log.contains("path=kernel TLS offered"), "\(setup.log.prefix(1500))")
            }
        }

        @Test("a client without a certificate, one with an expired certificate and one whose certificate its CA revoked are refused in the handshake, logged with the reason, and never reach the server",
              arguments: [(nil, "peer did not return a certificate"), ("expired", "certificate has expired"), ("revoked", "certificate revoked")] as [(String?, String)])
        func refusedCertificates(client: String?, reason: String) throws {
            let setup = try Setup("tls-refused") { ["--client-ca", $0.path("ca.pem"), "--client-crl", $0.path("crl.pem")] }
            defer { setup.stop() }
            let refused = try setup.client(client, ["--read", "x"])
            #expect(refused.status == 3, "\(refused.reply)")
            #expect(refused.reply["tls_error"] != nil, "\(refused.reply)")
            #expect(waitFor(10) { !logLines(setup.fixture.gateway.process, "TLS handshake failed", reason).isEmpty }, "\(setup.log.suffix(2000))")
            // No Tversion got through: the session never had a dialect, so never a server.
            let closed = logLines(setup.fixture.gateway.process, "session closed", "TLS handshake failed")
            #expect(closed.count == 1 && closed.allSatisfy { $0.contains("dialect=none") && $0.contains("identity=peer:") }, "\(closed)")
            // A certificate the CRL does not name still gets in.
            try Data("x\n".utf8).write(to: setup.fixture.directory.appendingPathComponent("x"))
            let accepted = try setup.client("bob", ["--read", "x"])
            #expect(accepted.status == 0, "\(accepted.reply)")
        }

        @Test("plaintext 9P on the TLS port and TLS on the plain port are refused while a TLS session on the same gateway goes on")
        func wrongProtocolOnPort() throws {
            let setup = try Setup("tls-plain")
            defer { setup.stop() }
            // The bystander: a TLS session that does a getattr before and after the others.
            let held = try HeldTLSSession(setup)
            defer { held.finish() }
            #expect(held.roundTrip() && held.roundTrip(), "the TLS session did not start")

            let plain = try RawClient(port: setup.tlsPort)
            #expect((try? plain.negotiate()) == nil, "a plaintext Tversion was answered on the TLS port")
            #expect(waitFor(10) { !logLines(setup.fixture.gateway.process, "TLS handshake failed").isEmpty }, "\(setup.log.suffix(2000))")
            let tlsOnPlain = try setup.client("alice", ["--read", "x"], port: setup.fixture.gateway.port)
            #expect(tlsOnPlain.status == 3, "\(tlsOnPlain.reply)")

            #expect(held.roundTrip(), "the TLS session broke")
            #expect(setup.fixture.gateway.process.process.isRunning)
        }

        @Test("a client that stalls in the middle of its TLS handshake is closed after --handshake-timeout, and logged")
        func stalledHandshake() throws {
            let setup = try Setup("tls-stall") { ["--client-ca", $0.path("ca.pem"), "--handshake-timeout", "1"] }
            defer { setup.stop() }
            let stalled = try RawClient(port: setup.tlsPort)
            try stalled.sendRaw([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])   // a ClientHello's record head, then nothing
            // EOF, not the client's own receive timeout (which throws): the gateway closed it.
            #expect(try stalled.readFrame() == nil)
            #expect(waitFor(10) { !logLines(setup.fixture.gateway.process, "session closed", "peer=\(stalled.localAddress)", "dialect=none").isEmpty },
                    "\(setup.log.suffix(2000))")
            #expect(setup.log.contains("no version negotiated within 1 s"), "\(setup.log.suffix(2000))")
        }

        @Test("200 connections of random bytes on the TLS port, half of them behind a handshake record header: the gateway stays up, a TLS session goes on, and new clients get in")
        func garbageOnTLSPort() throws {
            let setup = try Setup("tls-garbage")
            defer { setup.stop() }
            let held = try HeldTLSSession(setup)
            defer { held.finish() }
            #expect(held.roundTrip() && held.roundTrip(), "the TLS session did not start")
            let seed = testSeed("garbage on the TLS port")
            var generator = SplitMix64(seed: seed)
            let handshakeHead: [UInt8] = [0x16, 0x03, 0x01]
            for round in 0..<200 {
                guard let client = try? RawClient(port: setup.tlsPort) else { continue }
                var bytes = (0..<(1 + generator.below(2000))).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                // Half the time a plausible record header first, so OpenSSL parses further in.
                if round % 2 == 0 { bytes.replaceSubrange(0..<min(3, bytes.count), with: handshakeHead.prefix(bytes.count)) }
                try? client.sendRaw(bytes)
            }
            #expect(held.roundTrip(), "seed \(seed): the TLS session broke")
            #expect(setup.fixture.gateway.process.process.isRunning, "seed \(seed): the gateway died:\n\(setup.log.suffix(2000))")
            // And a new client still gets in.
            let after = try setup.client("alice", ["--read", "x"])
            #expect(after.reply["protocol"] as? String == "TLSv1.3", "seed \(seed): \(after.reply)")
        }

        @Test("TLS 1.2 is refused by default and accepted with --tls-min 1.2", arguments: [false, true])
        func minimumVersion(allowTLS12: Bool) throws {
            let setup = try Setup("tls-min", tlsFlags: { _ in allowTLS12 ? ["--tls-min", "1.2"] : [] })
            defer { setup.stop() }
            let result = try setup.client(nil, ["--tls-max", "1.2", "--read", "x"])
            if allowTLS12 {
                #expect(result.reply["protocol"] as? String == "TLSv1.2", "\(result.reply)")
                #expect(result.reply["cipher"] as? String == "ECDHE-ECDSA-AES128-GCM-SHA256", "\(result.reply)")
            } else {
                #expect(result.status == 3, "\(result.reply)")
                #expect(waitFor(10) { setup.log.contains("unsupported protocol") }, "\(setup.log.suffix(2000))")
            }
        }

        @Test("--client-auth optional: a client without a certificate is served as its address; one with a certificate as its subject")
        func optionalClientAuth() throws {
            let setup = try Setup("tls-optional", tlsFlags: { ["--client-ca", $0.path("ca.pem"), "--client-auth", "optional"] })
            defer { setup.stop() }
            try Data("x\n".utf8).write(to: setup.fixture.directory.appendingPathComponent("x"))
            let anonymous = try setup.client(nil, ["--read", "x"])
            #expect(anonymous.status == 0, "\(anonymous.reply)")
            let known = try setup.client("alice", ["--read", "x"])
            #expect(known.status == 0, "\(known.reply)")
            let closed = { logLines(setup.fixture.gateway.process, "session closed", "dialect=9P2000.L") }
            #expect(waitFor(10) { closed().count == 2 }, "\(setup.log.suffix(2000))")
            #expect(closed().first?.contains("identity=peer:127.0.0.1:") == true, "\(closed())")
            #expect(closed().last?.contains("identity=uri:spiffe://pebble9p.dev/alice") == true, "\(closed())")
        }

        /// The serial of the certificate the gateway presents to a new handshake.
        static func servedSerial(_ setup: Setup) throws -> String {
            let script = "openssl s_client -connect 127.0.0.1:\(setup.tlsPort) -alpn 9p -CAfile \(setup.certificates.path("ca.pem")) "
                + "-cert \(setup.certificates.path("alice.pem")) -key \(setup.certificates.path("alice.key")) </dev/null 2>/dev/null "
                + "| openssl x509 -noout -serial"
            return try runCommand("/bin/sh", ["-c", script], timeout: 30).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        @Test("SIGHUP: new handshakes get the new certificate while an open TLS session goes on; a bad file is refused with a log line naming it and the old certificate stays")
        func reloadOnSIGHUP() throws {
            let setup = try Setup("tls-reload")
            defer { setup.stop() }
            let certificates = setup.certificates
            let before = try Self.servedSerial(setup)
            #expect(before.hasPrefix("serial="), "\(before)")
            let held = try HeldTLSSession(setup)
            defer { held.finish() }
            #expect(held.roundTrip(), "the held session did not start")

            // A new server certificate from the same CA, written over the files serve was given.
            let issue = """
                set -e; cd "\(certificates.directory.path)"
                openssl req -new -key server.key -subj /CN=localhost -out new.csr
                printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > new.ext
                openssl x509 -req -in new.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile new.ext -out new.pem 2>/dev/null
                cat new.pem ca.pem > server.pem
                openssl x509 -in new.pem -noout -serial
                """
            let issued = try runCommand("/bin/sh", ["-c", issue], timeout: 30)
            let fresh = issued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(issued.status == 0 && fresh.hasPrefix("serial=") && fresh != before, "\(issued.stderr)")
            kill(setup.fixture.gateway.process.pid, SIGHUP)
            #expect(waitFor(10) { setup.log.contains("TLS material reloaded") }, "\(setup.log.suffix(2000))")
            #expect(try Self.servedSerial(setup) == fresh, "a new handshake did not see the new certificate")
            #expect(held.roundTrip(), "the session open across the reload broke")

            // A broken file: refused, named, and the certificate in use stays.
            try Data("not a certificate\n".utf8).write(to: certificates.directory.appendingPathComponent("server.pem"))
            kill(setup.fixture.gateway.process.pid, SIGHUP)
            #expect(waitFor(10) { !logLines(setup.fixture.gateway.process, "TLS reload refused", certificates.path("server.pem")).isEmpty },
                    "\(setup.log.suffix(2000))")
            #expect(try Self.servedSerial(setup) == fresh)
            #expect(setup.fixture.gateway.process.process.isRunning)
        }

        /// A TLS session (tls_9p_client.py --hold) that does one getattr per `roundTrip()`.
        final class HeldTLSSession {
            let process = Process()
            private let input = Pipe(), output = Pipe()

            init(_ setup: Setup) throws {
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = unmaskedSignals + ["/usr/bin/python3", Paths.clients.appendingPathComponent("tls_9p_client.py").path,
                                     "--port", "\(setup.tlsPort)", "--ca", setup.certificates.path("ca.pem"),
                                     "--cert", setup.certificates.path("alice.pem"), "--key", setup.certificates.path("alice.key"),
                                     "--aname", setup.fixture.directory.path, "--hold"]
                process.standardInput = input
                process.standardOutput = output
                try process.run()
            }

            /// The next line the client prints.
            func nextLine() -> String {
                var line = Data()
                while let byte = try? output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line.append(byte) }
                return String(decoding: line, as: UTF8.self)
            }

            private var rounds = 0

            /// Waits until the client is ready for a getattr, then lets it do one (the last one ends
            /// the client). True when it was ready, or, for the last, finished well.
            func roundTrip() -> Bool {
                defer { rounds += 1 }
                if rounds == 0 { return nextLine().contains("\"ready\": 0") }
                input.fileHandleForWriting.write(Data("\n".utf8))
                if rounds == 1 { return nextLine().contains("\"ready\": 1") }
                input.fileHandleForWriting.write(Data("\n".utf8))
                let last = nextLine()
                process.waitUntilExit()
                return process.terminationStatus == 0 && last.contains("\"ok\": true")
            }

            func finish() { if process.isRunning { process.terminate() } }
        }

        @Test("--route sends a TLS client to the backend of the server name it asked for (SNI), others to the default; with --route-strict an unknown name is refused in the handshake",
              arguments: [false, true])
        func serverNameRoutes(strict: Bool) throws {
            // Two more diods, each exporting a directory whose file says which it is.
            let exports = try ["a", "b"].map { name -> (URL, DiodServer) in
                let directory = try makeTemporaryDirectory("route-\(name)")
                chmod(directory.path, 0o755)
                try Data("\(name)\n".utf8).write(to: directory.appendingPathComponent("who"))
                return (directory, try DiodServer(exporting: directory))
            }
            defer { for (directory, diod) in exports { diod.stop(); try? FileManager.default.removeItem(at: directory) } }
            let setup = try Setup("tls-route") { certificates in
                ["--client-ca", certificates.path("ca.pem"), "--route", "A.pebble9p.dev=\(exports[0].1.spec)",
                 "--route", "b.pebble9p.dev=\(exports[1].1.spec)"] + (strict ? ["--route-strict"] : [])
            }
            defer { setup.stop() }
            try Data("default\n".utf8).write(to: setup.fixture.directory.appendingPathComponent("who"))
            for (index, name) in ["a.pebble9p.dev", "b.pebble9p.dev"].enumerated() {
                let read = try setup.client("alice", ["--server-name", name, "--aname", exports[index].0.path, "--read", "who"])
                #expect(read.status == 0 && read.reply["read_bytes"] as? Int == 2, "\(name): \(read.reply)\n\(setup.log.suffix(1500))")
            }
            let other = try setup.client("alice", ["--server-name", "c.pebble9p.dev", "--read", "who"])
            if strict {
                #expect(other.status == 3, "\(other.reply)")
                #expect(waitFor(10) { !logLines(setup.fixture.gateway.process, "TLS handshake failed").isEmpty }, "\(setup.log.suffix(2000))")
            } else {
                #expect(other.status == 0 && other.reply["read_bytes"] as? Int == 8, "the default backend: \(other.reply)")
            }
            #expect(!logLines(setup.fixture.gateway.process, "TLS established", "server_name=b.pebble9p.dev", "backend=\(exports[1].1.spec)").isEmpty,
                    "\(setup.log.suffix(2000))")
        }

        @Test("a missing certificate or a key that does not match it stops serve and check, naming the file")
        func badFiles() throws {
            let certificates = try Certificates()
            let missing = try runCommand(Paths.gateway, ["serve", "--backend", "tcp:127.0.0.1:564", "--tls-listen", "127.0.0.1:\(freePort())",
                                                         "--tls-cert", "/nonexistent/server.pem", "--tls-key", certificates.path("server.key")], timeout: 30)
            #expect(missing.status == 2 && missing.stderr.contains("/nonexistent/server.pem") && missing.stderr.contains("tls-cert"), "\(missing.stderr)")
            let config = certificates.directory.appendingPathComponent("bad.toml")
            try Data("""
                backend = "tcp:127.0.0.1:564"
                tls-listen = ["127.0.0.1:\(freePort())"]
                tls-cert = "\(certificates.path("server.pem"))"
                tls-key = "\(certificates.path("alice.key"))"

                """.utf8).write(to: config)
            let mismatch = try runCommand(Paths.gateway, ["check", "--config", config.path], timeout: 30)
            #expect(mismatch.status == 1 && mismatch.stderr.contains("as the key of") && mismatch.stderr.contains("alice.key"), "\(mismatch.stderr)")
        }
    }
}
