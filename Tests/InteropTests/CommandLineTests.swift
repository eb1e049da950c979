import Foundation
import Gateway
import Testing

extension Interop {
    /// The command line: `check` names the bad key and line; every config key is also a flag.
    @Suite struct CLI {
        func write(_ text: String) throws -> URL {
            let url = URL(fileURLWithPath: "/tmp/pebble9p-config-\(UUID().uuidString.prefix(8)).toml")
            try Data(text.utf8).write(to: url)
            return url
        }

        @Test("check accepts a valid file")
        func checkValid() throws {
            let directory = try makeTemporaryDirectory("check")
            defer { try? FileManager.default.removeItem(at: directory) }
            let file = try write("# gateway\nlisten = \"127.0.0.1:5999\"\nexport = \"\(directory.path)\"\nmax-msize = 65536\n")
            defer { try? FileManager.default.removeItem(at: file) }
            let result = try runCommand(Paths.gateway, ["check", "--config", file.path], timeout: 30)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("OK"))
        }

        @Test("check names the bad key and its line", arguments: [
            ("listen = \"127.0.0.1:5999\"\nbackend = \"tcp:127.0.0.1:1\"\nmax-msize = \"big\"\n", "line 3", "max-msize"),
            ("backend = \"tcp:127.0.0.1:1\"\n\nloopz = 2\n", "line 3", "loopz"),
            ("backend = \"ftp:somewhere\"\n", "line 1", "backend"),
            ("backend = \"tcp:127.0.0.1:1\"\nmax-inflight = 0\n", "line 2", "max-inflight"),
        ])
        func checkInvalid(text: String, line: String, key: String) throws {
            let file = try write(text)
            defer { try? FileManager.default.removeItem(at: file) }
            let result = try runCommand(Paths.gateway, ["check", "--config", file.path], timeout: 30)
            #expect(result.status != 0)
            #expect(result.stderr.contains(line), "\(result.stderr)")
            #expect(result.stderr.contains("\"\(key)\""), "\(result.stderr)")
        }

        @Test("serve takes its settings from a config file")
        func serveFromConfig() throws {
            let directory = try makeTemporaryDirectory("serve-config")
            defer { try? FileManager.default.removeItem(at: directory) }
            try Data("from config\n".utf8).write(to: directory.appendingPathComponent("note.txt"))
            let port = freePort()
            let file = try write("listen = \"127.0.0.1:\(port)\"\nexport = \"\(directory.path)\"\nloops = 1\n")
            defer { try? FileManager.default.removeItem(at: file) }
            let gateway = try TestProcess(name: "pebble9p", executable: Paths.gateway, arguments: ["serve", "--config", file.path])
            defer { gateway.stop() }
            try waitForPort(port, process: gateway)
            let result = try runCommand(which("diodcat")!, ["-s", "127.0.0.1:\(port)", "-a", directory.path, "note.txt"], timeout: 30)
            #expect(result.stdout == "from config\n", "\(result.stderr)")
            #expect(waitFor(5) { gateway.log.contains("loops=1") })
        }

        @Test("--listen given twice serves 9P on both addresses (two loops each)")
        func twoListenAddresses() throws {
            let directory = try makeTemporaryDirectory("two-listen")
            defer { try? FileManager.default.removeItem(at: directory) }
            let diod = try DiodServer(exporting: directory)
            defer { diod.stop() }
            let second = freePort()
            let gateway = try GatewayProcess(backend: diod.spec, extra: ["--listen", "127.0.0.1:\(second)", "--loops", "2"])
            defer { gateway.stop() }
            try waitForPort(second, process: gateway.process)
            for port in [gateway.port, second] {
                let client = try RawClient(port: port)
                #expect(try client.negotiate().version == "9P2000.L", "port \(port)")
                guard case .attach = try client.attach(aname: directory.path) else { Issue.record("attach on \(port) failed"); continue }
            }
            #expect(waitFor(5) { gateway.process.log.contains("address=127.0.0.1:\(gateway.port),127.0.0.1:\(second)") },
                    "\(gateway.process.log.suffix(1000))")
        }

        @Test("a second gateway on a port one already listens on fails, instead of sharing it through SO_REUSEPORT")
        func portInUse() throws {
            let first = try GatewayProcess(backend: "tcp:127.0.0.1:1")
            defer { first.stop() }
            let second = try runCommand(Paths.gateway, ["serve", "--listen", first.address, "--backend", "tcp:127.0.0.1:2"], timeout: 30)
            #expect(second.status != 0)
            #expect(second.stderr.contains("Address already in use"), "\(second.stderr)")
            #expect(first.process.process.isRunning)
        }

        @Test("serve warns at start when the file limit cannot hold max-conns' sockets", arguments: [(1024, true), (100, false)])
        func fileLimitWarning(maxConns: Int, warns: Bool) throws {
            try requireTool("/usr/bin/prlimit", install: "apt-get install -y util-linux")
            let port = freePort()
            // prlimit execs the gateway, so the pid stopped below is the gateway's.
            let gateway = try TestProcess(name: "pebble9p", executable: "/usr/bin/prlimit", arguments: [
                "--nofile=256:256", Paths.gateway, "serve", "--listen", "127.0.0.1:\(port)", "--backend", "tcp:127.0.0.1:1",
                "--max-conns", "\(maxConns)", "--loops", "1",
            ])
            defer { gateway.stop() }
            try waitForPort(port, process: gateway)
            // "listening" is logged just after the sockets are bound; the warning comes before them.
            #expect(waitFor(5) { gateway.log.contains("listening") })
            #expect(gateway.log.contains("file_limit=256") == warns, "\(gateway.log)")
        }

        @Test("a negative number for a flag is refused by its range, naming the flag", arguments: ["--loops", "--drain-timeout", "--max-fids"])
        func negativeFlag(flag: String) throws {
            let result = try runCommand(Paths.gateway, ["serve", "--backend", "tcp:127.0.0.1:1", flag, "-1"], timeout: 30)
            #expect(result.status == 2)
            #expect(result.stderr.contains("\(flag)\": -1 is outside"), "\(result.stderr)")
        }

        @Test("every config key is also a serve flag")
        func everyKeyIsAFlag() throws {
            let help = try runCommand(Paths.gateway, ["serve", "--help"], timeout: 30)
            for setting in GatewayConfig.settings {
                #expect(help.stdout.contains("--\(setting.key) "), "no flag --\(setting.key) in:\n\(help.stdout)")
            }
        }

        @Test("a silent connection starts no backend and is closed after --handshake-timeout")
        func handshakeTimeout() throws {
            let directory = try makeTemporaryDirectory("handshake")
            defer { try? FileManager.default.removeItem(at: directory) }
            let gateway = try GatewayProcess(backend: "exec:exec diod -n -c /dev/null -L stderr -r 0 -w 1 -e \(directory.path)",
                                             extra: ["--handshake-timeout", "1"])
            defer { gateway.stop() }
            let silent = try RawClient(port: gateway.port)
            // EOF, not the client's own receive timeout (which throws): the gateway closed it.
            #expect(try silent.readFrame() == nil, "the silent connection should be closed")
            #expect(gateway.process.log.contains("no version negotiated within 1 s"))
            // Every exec: server the gateway starts is logged ("file server started", at debug).
            #expect(logLines(gateway.process, "file server started").isEmpty,
                    "a backend was started for a connection that said nothing:\n\(gateway.process.log.suffix(2000))")
            // A client that speaks gets its backend.
            let speaking = try RawClient(port: gateway.port)
            #expect(try speaking.negotiate().version == "9P2000.L")
            #expect(logLines(gateway.process, "file server started").count == 1)
        }
    }
}
