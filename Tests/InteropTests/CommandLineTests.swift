import Foundation
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
            #expect(gateway.log.contains("loops=1"))
        }
    }
}
