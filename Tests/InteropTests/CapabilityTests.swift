import Foundation
import NineP
import Testing

extension Interop {
    /// Capability tokens through the gateway in front of a real diod, presented by unmodified
    /// clients as their aname: confinement to the token's path, rights, refusals, the audit log.
    @Suite struct Capabilities {
        /// diod and the gateway with a token key file (`--token-keys`, attaching to diod with the
        /// export's path), an audit log, and an export holding:
        /// `top.txt`, `sub/inside.txt`, `sub/deeper/x.txt`, `sub/escape` → `/`, `sub/up` → `..`.
        final class Fixture {
            let fixture: DiodBehindGateway
            let keys: String
            let audit: String
            let work: URL

            init(_ label: String, extra: [String] = []) throws {
                work = try makeTemporaryDirectory("\(label)-keys")
                keys = work.appendingPathComponent("token.keys").path
                audit = work.appendingPathComponent("audit.jsonl").path
                let keygen = try runCommand(Paths.gateway, ["token", "keygen", "--key-file", keys, "--kid", "k1"])
                try #require(keygen.status == 0, "keygen: \(keygen.stderr)")
                // The gateway attaches a token's session to diod with the export's path.
                let export = try makeTemporaryDirectory(label)
                fixture = try DiodBehindGateway(label, extra: ["--token-keys", keys, "--audit", audit, "--backend-aname", export.path] + extra,
                                                exporting: export)
                let directory = fixture.directory
                try Data("top secret\n".utf8).write(to: directory.appendingPathComponent("top.txt"))
                try FileManager.default.createDirectory(at: directory.appendingPathComponent("sub/deeper"), withIntermediateDirectories: true)
                try Data("inside\n".utf8).write(to: directory.appendingPathComponent("sub/inside.txt"))
                try Data("deep\n".utf8).write(to: directory.appendingPathComponent("sub/deeper/x.txt"))
                try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("sub/escape").path, withDestinationPath: "/")
                try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("sub/up").path, withDestinationPath: "..")
            }

            func mint(_ caveats: [String]) throws -> String {
                let result = try runCommand(Paths.gateway, ["token", "mint", "--key-file", keys, "--kid", "k1"] + caveats.flatMap { ["--caveat", $0] })
                try #require(result.status == 0, "mint: \(result.stderr)")
                return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }

            func cat(_ aname: String, _ path: String) throws -> CommandResult {
                try runCommand(which("diodcat")!, ["-s", fixture.gateway.address, "-a", aname, path], timeout: 60)
            }

            /// The audit log's events, decoded.
            func events() throws -> [[String: Any]] {
                let text = (try? String(contentsOfFile: audit, encoding: .utf8)) ?? ""
                return try text.split(separator: "\n").map { line in
                    try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
                }
            }

            func stop() {
                fixture.stop()
                try? FileManager.default.removeItem(at: work)
            }
        }

        @Test("diodcat -a TOKEN reads inside the token's path; .., ../.., a/../../.., a symlink to / and one to .. all stay inside")
        func confinedReads() throws {
            let setup = try Fixture("cap-confined")
            defer { setup.stop() }
            let token = try setup.mint(["path = /sub", "rights = lr"])
            let inside = try setup.cat(token, "inside.txt")
            #expect(inside.status == 0 && inside.stdout == "inside\n", "\(inside.stdout) \(inside.stderr)")
            #expect(try setup.cat(token, "deeper/x.txt").stdout == "deep\n")
            // At the root, .. is the root: these name sub/inside.txt, never the export's files.
            for path in ["../inside.txt", "../../inside.txt", "deeper/../../../inside.txt"] {
                let result = try setup.cat(token, path)
                #expect(result.status == 0 && result.stdout == "inside\n", "\(path): \(result.stdout) \(result.stderr)")
            }
            for path in ["../top.txt", "../../top.txt", "deeper/../../../top.txt", "escape/etc/passwd", "escape", "up/top.txt", "up"] {
                let result = try setup.cat(token, path)
                #expect(result.status != 0, "\(path) was read: \(result.stdout)")
                #expect(!result.stdout.contains("top secret") && !result.stdout.contains("root:"), "\(path): \(result.stdout)")
            }
            // Without a token the session is transparent: the export's root.
            #expect(try setup.cat(setup.fixture.directory.path, "top.txt").stdout == "top secret\n")

            let events = try setup.events()
            #expect(events.contains { $0["event"] as? String == "CONFINEMENT_BLOCKED" }, "\(events)")
            #expect(events.allSatisfy { $0["token_id"] as? String != nil && $0["session"] != nil && $0["peer"] != nil }, "\(events)")
            let log = (try? String(contentsOfFile: setup.audit, encoding: .utf8)) ?? ""
            #expect(!log.contains(token) && !setup.fixture.gateway.process.log.contains(token), "a whole token was logged")
        }

        @Test("a read-only token cannot create, write, truncate, chmod, rename or remove (p9fs 9P2000.L, diod)")
        func readOnlyToken() throws {
            let setup = try Fixture("cap-readonly")
            defer { setup.stop() }
            let token = try setup.mint(["path = /sub", "rights = lr"])
            let result = try runPythonScenario("p9fs_readonly_token.py", ["--port", "\(setup.fixture.gateway.port)", "--aname", token,
                                                                          "--version", "9P2000.L", "--file", "inside.txt", "--content", "inside\n"])
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\ngateway log:\n\(setup.fixture.gateway.process.log.suffix(3000))")
            #expect(try String(contentsOfFile: setup.fixture.directory.appendingPathComponent("sub/inside.txt").path, encoding: .utf8) == "inside\n")
            let denied = try setup.events().filter { $0["event"] as? String == "PERMISSION_DENIED" }
            #expect(denied.count == 9, "one per refused change: \(denied)")
        }

        @Test("a read-only token on 9P2000.u (p9fs, in front of the py9p server): Tcreate, Topen for writing or truncation, Twstat and Tremove refused")
        func readOnlyTokenLegacy() throws {
            let root = try makeTemporaryDirectory("cap-py9p")
            let work = try makeTemporaryDirectory("cap-py9p-keys")
            defer {
                try? FileManager.default.removeItem(at: root)
                try? FileManager.default.removeItem(at: work)
            }
            try FileManager.default.createDirectory(at: root.appendingPathComponent("sub"), withIntermediateDirectories: true)
            try Data("inside\n".utf8).write(to: root.appendingPathComponent("sub/inside.txt"))
            let keys = work.appendingPathComponent("token.keys").path
            #expect(try runCommand(Paths.gateway, ["token", "keygen", "--key-file", keys, "--kid", "k1"]).status == 0)
            let token = try runCommand(Paths.gateway, ["token", "mint", "--key-file", keys, "--kid", "k1", "--caveat", "path = /sub",
                                                       "--caveat", "rights = lr"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let server = try PythonClients.Py9pServer(root: root, unix: true)
            let gateway = try GatewayProcess(backend: "tcp:127.0.0.1:\(server.port)", extra: ["--token-keys", keys])
            defer { gateway.stop() }
            let result = try runPythonScenario("p9fs_readonly_token.py", ["--port", "\(gateway.port)", "--aname", token, "--version", "9P2000.u",
                                                                          "--msize", "8192", "--file", "inside.txt", "--content", "inside\n"])
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\ngateway log:\n\(gateway.process.log.suffix(3000))")
            #expect(try String(contentsOfFile: root.appendingPathComponent("sub/inside.txt").path, encoding: .utf8) == "inside\n")
        }

        @Test("tokens that grant nothing are refused at attach: forged, expired, another client, another path; with --require-token, none")
        func refusedTokens() throws {
            let setup = try Fixture("cap-refused", extra: ["--require-token"])
            defer { setup.stop() }
            let good = try setup.mint(["path = /sub"])
            #expect(try setup.cat(good, "inside.txt").stdout == "inside\n")
            var forged = good
            let last = forged.removeLast()
            forged.append(last == "A" ? "B" : "A")
            let attenuated = try runCommand(Paths.gateway, ["token", "attenuate", good, "--caveat", "path = /elsewhere"]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let refused = [forged, try setup.mint(["expires = 2020-01-01T00:00:00Z"]), try setup.mint(["client = 10.9.9.9"]), attenuated]
            for aname in refused {
                let result = try setup.cat(aname, "inside.txt")
                #expect(result.status != 0 && result.stderr.contains("Permission denied"), "\(aname.prefix(20)): \(result.stdout) \(result.stderr)")
            }
            // No token: diodcat's Tauth is answered by the gateway (the auth-fid path) and diodcat then
            // tries munge, which fails before it attaches; a client that attaches without one gets EACCES.
            let none = try setup.cat(setup.fixture.directory.path, "inside.txt")
            #expect(none.status != 0 && !none.stdout.contains("inside"))
            let client = try RawClient(port: setup.fixture.gateway.port)
            _ = try client.negotiate()
            #expect(try client.attach(fid: 1, aname: setup.fixture.directory.path) == .lerror(Rlerror(ecode: 13)))
            let kinds = try setup.events().compactMap { $0["event"] as? String }
            #expect(kinds == ["INVALID_CAPABILITY", "TOKEN_REJECTED", "TOKEN_REJECTED", "TOKEN_REJECTED", "TOKEN_REJECTED"], "\(kinds)")
        }

        @Test("delegation end to end: user.pebble.cap read on a directory is a token for that directory alone, with the reader's rights")
        func delegation() throws {
            let setup = try Fixture("cap-delegate")
            defer { setup.stop() }
            let token = try setup.mint(["path = /sub", "rights = lr"])
            let client = try RawClient(port: setup.fixture.gateway.port)
            _ = try client.negotiate()
            guard case .attach = try client.attach(fid: 1, aname: token) else { throw MissingTool(description: "attach with the token failed") }
            guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["deeper"]))) else { throw MissingTool(description: "walk failed") }
            guard case let .xattrwalk(size) = try client.rpc(.xattrwalk(Txattrwalk(fid: 2, newfid: 3, name: "user.pebble.cap"))) else {
                throw MissingTool(description: "no Rxattrwalk")
            }
            guard case let .read(value) = try client.rpc(.read(Tread(fid: 3, offset: 0, count: UInt32(size.size)))) else {
                throw MissingTool(description: "no Rread")
            }
            #expect(try client.rpc(.clunk(Tclunk(fid: 3))) == .clunk(Rclunk()))
            let delegated = String(decoding: value.data, as: UTF8.self)
            let inspect = try runCommand(Paths.gateway, ["token", "inspect", delegated])
            #expect(inspect.stdout.contains("path = /sub/deeper") && inspect.stdout.contains("rights = lr"), "\(inspect.stdout)")

            // Another client, with only the delegated token: the directory is its root.
            #expect(try setup.cat(delegated, "x.txt").stdout == "deep\n")
            let above = try setup.cat(delegated, "../inside.txt")
            #expect(above.status != 0 && !above.stdout.contains("inside"), "\(above.stdout)")
        }

        @Test("a token through the auth fid (Tauth, the token written to the afid, Tattach naming it) in front of diod")
        func tokenThroughAuthFid() throws {
            let setup = try Fixture("cap-authfid", extra: ["--require-token"])
            defer { setup.stop() }
            let token = Array(try setup.mint(["path = /sub", "rights = lr"]).utf8)
            let client = try RawClient(port: setup.fixture.gateway.port)
            _ = try client.negotiate()
            guard case .auth = try client.rpc(.auth(Tauth(afid: 5, uname: "", aname: ""))) else { throw MissingTool(description: "no Rauth") }
            #expect(try client.rpc(.write(Twrite(fid: 5, offset: 0, data: token))) == .write(Rwrite(count: UInt32(token.count))))
            guard case .attach = try client.rpc(.attach(Tattach(fid: 1, afid: 5, uname: "", aname: "", nUname: 0))) else {
                throw MissingTool(description: "attach with the auth fid failed: \(setup.fixture.gateway.process.log.suffix(1500))")
            }
            #expect(try client.rpc(.clunk(Tclunk(fid: 5))) == .clunk(Rclunk()))
            guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["inside.txt"]))) else { throw MissingTool(description: "walk failed") }
            guard case .lopen = try client.rpc(.lopen(Tlopen(fid: 2, flags: 0))) else { throw MissingTool(description: "open failed") }
            #expect(try client.rpc(.read(Tread(fid: 2, offset: 0, count: 100))) == .read(Rread(data: Array("inside\n".utf8))))
            // The token's rights hold: no writing.
            #expect(try client.rpc(.walk(Twalk(fid: 1, newfid: 3, wnames: ["inside.txt"]))) != .lerror(Rlerror(ecode: 2)))
            #expect(try client.rpc(.lopen(Tlopen(fid: 3, flags: 1))) == .lerror(Rlerror(ecode: 13)))
        }

        @Test("revocation: at SIGHUP a revoked token's live session is cut off and new attaches with it are refused; other sessions go on")
        func revocation() throws {
            let work = try makeTemporaryDirectory("cap-revoked")
            defer { try? FileManager.default.removeItem(at: work) }
            let revoked = work.appendingPathComponent("revoked").path
            try Data("# revoked token ids\n".utf8).write(to: URL(fileURLWithPath: revoked))
            let setup = try Fixture("cap-revoke", extra: ["--revoked", revoked])
            defer { setup.stop() }
            let doomed = try setup.mint(["path = /sub"])
            let kept = try setup.mint(["path = /sub"])
            let clients = try [doomed, kept].map { token in
                let client = try RawClient(port: setup.fixture.gateway.port)
                _ = try client.negotiate()
                guard case .attach = try client.attach(fid: 1, aname: token) else { throw MissingTool(description: "attach failed") }
                return client
            }
            let id = try #require(try runCommand(Paths.gateway, ["token", "inspect", doomed]).stdout
                .split(separator: "\n").first { $0.hasPrefix("token id: ") }?.dropFirst("token id: ".count))
            try Data("\(id)\n".utf8).write(to: URL(fileURLWithPath: revoked))
            kill(setup.fixture.gateway.process.pid, SIGHUP)
            #expect(waitFor(10) { !logLines(setup.fixture.gateway.process, "session closed", "token \(id) revoked").isEmpty },
                    "\(setup.fixture.gateway.process.log.suffix(2000))")
            #expect(try clients[0].receive() == nil, "the revoked session's connection is closed")
            #expect(try clients[1].rpc(.getattr(Tgetattr(fid: 1, requestMask: 0x7ff)), tag: 2).isGetattr, "the other session goes on")
            let again = try setup.cat(doomed, "inside.txt")
            #expect(again.status != 0 && again.stderr.contains("Permission denied"))
            let events = try setup.events()
            #expect(events.contains { $0["event"] as? String == "TOKEN_REJECTED" && ($0["detail"] as? String)?.contains("cut off") == true })
        }
    }
}

extension Interop.Capabilities {
    @Test("a token's client caveat names a TLS identity: alice's certificate through the tunnel gets in, bob's is refused (TOKEN_REJECTED)")
    func clientCaveatWithTLSIdentity() throws {
        let work = try makeTemporaryDirectory("cap-tls-keys")
        let export = try makeTemporaryDirectory("cap-tls")
        defer { try? FileManager.default.removeItem(at: work) }
        let keys = work.appendingPathComponent("token.keys").path
        let audit = work.appendingPathComponent("audit.jsonl").path
        #expect(try runCommand(Paths.gateway, ["token", "keygen", "--key-file", keys, "--kid", "k1"]).status == 0)
        let token = try runCommand(Paths.gateway, ["token", "mint", "--key-file", keys, "--kid", "k1",
                                                   "--caveat", "client = uri:spiffe://pebble9p.dev/alice"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try Data("for alice\n".utf8).write(to: export.appendingPathComponent("note.txt"))
        let gateway = try Interop.TLS.Setup("cap-tls", exporting: export) { certificates in
            ["--client-ca", certificates.path("ca.pem"), "--token-keys", keys, "--require-token", "--audit", audit,
             "--backend-aname", export.path]
        }
        let alice = try Interop.Tunnel.Setup("cap-tls-alice", gateway: gateway)
        defer { alice.stop() }
        let read = try runCommand(which("diodcat")!, ["-s", alice.address, "-a", token, "note.txt"], timeout: 60)
        #expect(read.status == 0 && read.stdout == "for alice\n", "\(read.stdout) \(read.stderr)")

        let bobPort = freePort()
        let bob = try TestProcess(name: "pebble9p-tunnel-bob", executable: Paths.gateway, arguments: [
            "tunnel", "--listen", "127.0.0.1:\(bobPort)", "--connect", "127.0.0.1:\(gateway.tlsPort)", "--server-name", "localhost",
            "--ca", gateway.certificates.path("ca.pem"), "--cert", gateway.certificates.path("bob.pem"), "--key", gateway.certificates.path("bob.key"),
        ])
        defer { bob.stop() }
        try waitForPort(bobPort, process: bob)
        let refused = try runCommand(which("diodcat")!, ["-s", "127.0.0.1:\(bobPort)", "-a", token, "note.txt"], timeout: 60)
        #expect(refused.status != 0 && !refused.stdout.contains("alice"), "\(refused.stdout)")
        let events = (try? String(contentsOfFile: audit, encoding: .utf8)) ?? ""
        #expect(events.contains("TOKEN_REJECTED") && events.contains("client caveat") && events.contains("dns:bob"), "\(events)")
    }
}

private extension RMessage {
    var isGetattr: Bool { if case .getattr = self { true } else { false } }
}

extension Interop.Capabilities {
    @Test("a client without a certificate is budgeted as the token it attaches with: with --max-fids-per-client 3, two sessions with one token share 3 fids, a session with another token and one without a token (its address) have 3 each")
    func budgetsPerToken() throws {
        let setup = try Fixture("cap-token-budget", extra: ["--max-fids-per-client", "3"])
        defer { setup.stop() }
        let first = try setup.mint(["path = /sub"]), second = try setup.mint(["path = /sub"])
        let port = setup.fixture.gateway.port
        func session(_ aname: String) throws -> RawClient {
            let client = try RawClient(port: port)
            _ = try client.negotiate()
            guard case .attach = try client.attach(fid: 1, aname: aname) else { throw MissingTool(description: "attach failed") }
            return client
        }
        func clone(_ client: RawClient, _ newfid: UInt32) throws -> RMessage {
            try client.rpc(.walk(Twalk(fid: 1, newfid: newfid, wnames: [])), tag: 3)
        }
        let plain = try session(setup.fixture.directory.path)
        let a1 = try session(first), a2 = try session(first), b = try session(second)
        #expect(try clone(a1, 2) == .walk(Rwalk(wqids: [])))
        #expect(try clone(a2, 2) == .lerror(Rlerror(ecode: 122)), "the first token's 3 fids are used")
        for newfid in UInt32(2)...3 {
            #expect(try clone(b, newfid) == .walk(Rwalk(wqids: [])), "the second token has its own")
            #expect(try clone(plain, newfid) == .walk(Rwalk(wqids: [])), "the address has its own")
        }
        #expect(try clone(plain, 4) == .lerror(Rlerror(ecode: 122)))
        let events = try setup.events().filter { $0["event"] as? String == "BUDGET_EXCEEDED" }
        #expect(events.count == 2 && events.contains { ($0["detail"] as? String)?.contains("held by token:") == true }, "\(events)")
    }
}
