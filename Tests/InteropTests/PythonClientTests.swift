import Foundation
import NineP
import Testing

extension Interop {
    /// Python 9P clients through the gateway: p9fs (.L, .u, 9P2000) and python-9p (strict 9P2000),
    /// in front of diod and of the legacy servers (p9fs's bundled py9p server, aio9p's examples).
    @Suite struct PythonClients {
        /// p9fs's bundled 9P2000/9P2000.u server on a free port (`-D` selects .u).
        final class Py9pServer {
            let port = freePort()
            let process: TestProcess
            init(root: URL, unix: Bool) throws {
                try requireTool(Paths.venvPython, install: "scripts/setup (creates .venv with p9fs==0.0.4)")
                var arguments = ["-m", "py9p", "-a", "127.0.0.1", "-p", "\(port)", "-r", root.path, "-w"]
                if unix { arguments.append("-D") }
                process = try TestProcess(name: "py9p-server", executable: Paths.venvPython, arguments: arguments)
                try waitForPort(port, process: process)
            }
            deinit { process.stop() }
        }

        /// aio9p's in-memory example server on a unix socket, reached by the gateway as `unix:PATH`.
        final class Aio9pServer {
            let socketPath: String
            let process: TestProcess
            init(dialect: String) throws {
                try requireTool(Paths.venvPython, install: "scripts/setup (creates .venv with aio9p==0.3.3)")
                socketPath = "/tmp/pebble9p-aio9p-\(UUID().uuidString.prefix(8)).sock"
                process = try TestProcess(
                    name: "aio9p-server", executable: Paths.venvPython,
                    arguments: [Paths.clients.appendingPathComponent("aio9p_server.py").path, "--unix", socketPath, "--dialect", dialect])
                let deadline = Date().addingTimeInterval(20)
                while !FileManager.default.fileExists(atPath: socketPath) && Date() < deadline && process.process.isRunning {
                    usleep(50_000)
                }
                guard FileManager.default.fileExists(atPath: socketPath) else {
                    throw MissingTool(description: "aio9p server did not start:\n\(process.log)")
                }
            }
            deinit {
                process.stop()
                try? FileManager.default.removeItem(atPath: socketPath)
            }
        }

        /// On a new 9P2000.u session: attach, walk fid 2 to "f", Topen it with `mode`, write `text` at
        /// `offset`, and return the fid's Tstat (what the fid sees of the file).
        static func openWriteStat(_ client: RawClient, mode: UInt8, at offset: UInt64, _ text: String) throws -> Stat {
            _ = try client.negotiate(msize: 8192)
            let replies = [try client.attach(aname: ""), try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["f"])), tag: 2),
                           try client.rpc(.open(Topen(fid: 2, mode: mode)), tag: 3),
                           try client.rpc(.write(Twrite(fid: 2, offset: offset, data: Array(text.utf8))), tag: 4),
                           try client.rpc(.stat(Tstat(fid: 2)), tag: 5)]
            guard case .attach = replies[0], case .walk = replies[1], case .open = replies[2], case .write = replies[3],
                  case let .stat(stat) = replies[4]
            else { throw MissingTool(description: "attach, walk, open, write or stat through the gateway failed: \(replies)") }
            return stat.stat
        }

        func expectSuccess(_ result: CommandResult, _ label: String, gateway: GatewayProcess) {
            #expect(result.status == 0, "\(label) failed:\nstdout: \(result.stdout)\nstderr: \(result.stderr)\ngateway log:\n\(gateway.process.log.suffix(3000))")
            #expect(result.stdout.contains("{"), "\(label) printed no summary: \(result.stdout)")
        }

        @Test("p9fs (9P2000.L) creates, writes, reads back, renames, lists and deletes through the gateway in front of diod, with writes going through and held until commit (--blue on)",
              arguments: [[], ["--blue", "on"]])
        func p9fsLinux(extra: [String]) throws {
            let fixture = try DiodBehindGateway("p9fs-L", extra: extra)
            defer { fixture.stop() }
            let result = try runPythonScenario("p9fs_scenario.py", ["--port", "\(fixture.gateway.port)", "--aname", fixture.directory.path, "--version", "9P2000.L"])
            expectSuccess(result, "p9fs .L", gateway: fixture.gateway)
        }

        @Test("p9fs (9P2000.L) through the gateway's embedded diod (exec backend)")
        func p9fsExport() throws {
            let directory = try makeExportDirectory("p9fs-export")
            defer { try? FileManager.default.removeItem(at: directory) }
            let gateway = try GatewayProcess(export: directory)
            defer { gateway.stop() }
            let result = try runPythonScenario("p9fs_scenario.py", ["--port", "\(gateway.port)", "--aname", directory.path, "--version", "9P2000.L"])
            expectSuccess(result, "p9fs .L via --export", gateway: gateway)
        }

        @Test("p9fs in 9P2000.u and 9P2000 through the gateway in front of the py9p server", arguments: [true, false])
        func p9fsLegacy(unix: Bool) throws {
            let root = try makeTemporaryDirectory("py9p")
            defer { try? FileManager.default.removeItem(at: root) }
            let server = try Py9pServer(root: root, unix: unix)
            let gateway = try GatewayProcess(backend: "tcp:127.0.0.1:\(server.port)")
            defer { gateway.stop() }
            let version = unix ? "9P2000.u" : "9P2000"
            let result = try runPythonScenario("p9fs_scenario.py", ["--port", "\(gateway.port)", "--version", version, "--msize", "8192"])
            expectSuccess(result, "p9fs \(version)", gateway: gateway)
        }

        @Test("Blue on 9P2000.u in front of the py9p server: writes to a file opened for writing change nothing on disk until the clunk, which commits them; a client that dies first leaves the file as it was", arguments: [false, true])
        func blueLegacy(dies: Bool) throws {
            let root = try makeTemporaryDirectory("py9p-blue")
            defer { try? FileManager.default.removeItem(at: root) }
            let target = root.appendingPathComponent("f")
            try Data("the old content".utf8).write(to: target)
            let server = try Py9pServer(root: root, unix: true)
            let gateway = try GatewayProcess(backend: "tcp:127.0.0.1:\(server.port)")
            defer { gateway.stop() }
            let client = try RawClient(port: gateway.port, dialect: .unix)
            // OWRITE: this server fails every ORDWR open (its open() reads an unset variable).
            let stat = try Self.openWriteStat(client, mode: 1, at: 4, "new")
            #expect(stat.length == 15, "the fid sees its own size")
            #expect(try String(contentsOf: target, encoding: .utf8) == "the old content", "nothing reached the server before the clunk")
            if dies {
                client.reset()
                #expect(waitFor(10) { logLines(gateway.process, "session closed").count == 1 })
                #expect(try String(contentsOf: target, encoding: .utf8) == "the old content")
                return
            }
            #expect(try client.rpc(.clunk(Tclunk(fid: 2)), tag: 6) == .clunk(Rclunk()))
            #expect(try String(contentsOf: target, encoding: .utf8) == "the new content")
        }

        @Test("Blue on 9P2000.u in front of the py9p server: a file opened with OTRUNC keeps its old content until the clunk, which replaces it whole (a new file renamed over it by Twstat: its inode changes), leaving no temporary; a reopen then reads the new content; an edit is replaced too (the old content copied first)")
        func blueLegacyReplace() throws {
            let root = try makeTemporaryDirectory("py9p-replace")
            defer { try? FileManager.default.removeItem(at: root) }
            let target = root.appendingPathComponent("f")
            try Data("the old content, longer than the new".utf8).write(to: target)
            let inode = { (try FileManager.default.attributesOfItem(atPath: target.path)[.systemFileNumber] as? NSNumber)?.uint64Value }
            let before = try inode()
            let server = try Py9pServer(root: root, unix: true)
            let gateway = try GatewayProcess(backend: "tcp:127.0.0.1:\(server.port)")
            defer { gateway.stop() }
            let client = try RawClient(port: gateway.port, dialect: .unix)
            let stat = try Self.openWriteStat(client, mode: 1 | 0x10, at: 0, "brand new")
            #expect(stat.length == 9, "the fid sees its own size")
            #expect(try String(contentsOf: target, encoding: .utf8) == "the old content, longer than the new", "the truncation is held too")
            #expect(try client.rpc(.clunk(Tclunk(fid: 2)), tag: 6) == .clunk(Rclunk()))
            #expect(try String(contentsOf: target, encoding: .utf8) == "brand new")
            #expect(try inode() != before, "replaced by a new file, not rewritten in place")
            #expect(try FileManager.default.contentsOfDirectory(atPath: root.path) == ["f"], "no temporary left")
            #expect(logLines(gateway.process, "commit in place").isEmpty, "\(gateway.process.log)")
            let reopened = [try client.rpc(.walk(Twalk(fid: 1, newfid: 3, wnames: ["f"])), tag: 7), try client.rpc(.open(Topen(fid: 3, mode: 0)), tag: 8),
                            try client.rpc(.read(Tread(fid: 3, offset: 0, count: 100)), tag: 9)]
            #expect(reopened.last == .read(Rread(data: Array("brand new".utf8))))

            // An edit (no OTRUNC): the old content copied into the temporary, the write applied, renamed over.
            let edited = root.appendingPathComponent("g")
            try Data("the old content".utf8).write(to: edited)
            let editedInode = { (try FileManager.default.attributesOfItem(atPath: edited.path)[.systemFileNumber] as? NSNumber)?.uint64Value }
            let beforeEdit = try editedInode()
            let edit = [try client.rpc(.walk(Twalk(fid: 1, newfid: 4, wnames: ["g"])), tag: 10), try client.rpc(.open(Topen(fid: 4, mode: 1)), tag: 11),
                        try client.rpc(.write(Twrite(fid: 4, offset: 4, data: Array("NEW".utf8))), tag: 12)]
            guard case .walk = edit[0], case .open = edit[1], case .write = edit[2] else { throw MissingTool(description: "edit failed: \(edit)") }
            #expect(try String(contentsOf: edited, encoding: .utf8) == "the old content")
            #expect(try client.rpc(.clunk(Tclunk(fid: 4)), tag: 13) == .clunk(Rclunk()))
            #expect(try String(contentsOf: edited, encoding: .utf8) == "the NEW content")
            #expect(try editedInode() != beforeEdit, "replaced by a new file, not rewritten in place")
            #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() == ["f", "g"], "no temporary left")
            #expect(logLines(gateway.process, "commit in place").isEmpty, "\(gateway.process.log)")
        }

        @Test("python-9p (strict 9P2000, 8 threads multiplexed) through the gateway in front of the py9p server; with max-inflight 2 requests past two wait in the gateway",
              arguments: [[], ["--max-inflight", "2"]])
        func python9p(extra: [String]) throws {
            let root = try makeTemporaryDirectory("python9p")
            defer { try? FileManager.default.removeItem(at: root) }
            let server = try Py9pServer(root: root, unix: false)
            let gateway = try GatewayProcess(backend: "tcp:127.0.0.1:\(server.port)", extra: extra)
            defer { gateway.stop() }
            let result = try runPythonScenario("python9p_scenario.py", strict: true, ["--port", "\(gateway.port)", "--threads", "8"])
            expectSuccess(result, "python-9p", gateway: gateway)
            if !extra.isEmpty {
                // The session-close line says how many requests waited for room at the server.
                #expect(waitFor(10) { gateway.process.log.contains("requests_held=") }, "no session-close line")
                let held = gateway.process.log.split(separator: "\n").compactMap { line -> Int? in
                    guard let range = line.range(of: "requests_held=") else { return nil }
                    return Int(line[range.upperBound...].prefix { $0.isNumber })
                }
                #expect(held.contains { $0 > 0 }, "no request was held: \(held)")
            }
        }

        @Test("a client in each legacy dialect through the gateway in front of aio9p's example servers", arguments: ["9P2000", "9P2000.u"])
        func aio9p(dialect: String) throws {
            let server = try Aio9pServer(dialect: dialect)
            let gateway = try GatewayProcess(backend: "unix:\(server.socketPath)")
            defer { gateway.stop() }
            let result = try runPythonScenario("aio9p_scenario.py", ["--port", "\(gateway.port)", "--version", dialect])
            expectSuccess(result, "aio9p \(dialect)", gateway: gateway)
        }
    }
}
