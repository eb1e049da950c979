import Foundation
import Testing

extension Interop {
    /// diod's own C clients (diodcat, diodls, diodload) through the gateway in front of a real diod.
    @Suite struct DiodTools {
        @Test("diodcat reads a 100 MiB file bit-exact through the gateway")
        func diodcatLargeFile() throws {
            let fixture = try DiodBehindGateway("diodcat")
            defer { fixture.stop() }
            let source = fixture.directory.appendingPathComponent("big.bin")
            try runCommand("/bin/sh", ["-c", "head -c 104857600 /dev/urandom > '\(source.path)'"])

            let copy = URL(fileURLWithPath: "/tmp/pebble9p-diodcat-\(UUID().uuidString.prefix(8)).bin")
            defer { try? FileManager.default.removeItem(at: copy) }
            let result = try runCommand(which("diodcat")!, ["-s", fixture.gateway.address, "-a", fixture.directory.path, "-m", "65536", "big.bin"],
                                        stdoutTo: copy)
            #expect(result.status == 0, "diodcat failed: \(result.stderr)")
            let sizes = try [source, copy].map { try FileManager.default.attributesOfItem(atPath: $0.path)[.size] as? Int }
            #expect(sizes[0] == 104_857_600)
            #expect(sizes[0] == sizes[1])
            let cmp = try runCommand("/usr/bin/cmp", [source.path, copy.path])
            #expect(cmp.status == 0, "copies differ: \(cmp.stdout)")
        }

        @Test("diodls -l lists a tree through the gateway's embedded diod (--export)")
        func diodlsTree() throws {
            let directory = try makeExportDirectory("diodls")
            defer { try? FileManager.default.removeItem(at: directory) }
            let names = ["alpha.txt", "beta.bin", "gamma", "sub"]
            for name in names.dropLast() {
                try Data(name.utf8).write(to: directory.appendingPathComponent(name))
            }
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("sub/inner"), withIntermediateDirectories: true)
            try Data("deep".utf8).write(to: directory.appendingPathComponent("sub/inner/deep.txt"))

            let gateway = try GatewayProcess(export: directory)
            defer { gateway.stop() }
            let top = try runCommand(which("diodls")!, ["-s", gateway.address, "-a", directory.path, "-l", "/"], timeout: 60)
            #expect(top.status == 0, "diodls failed: \(top.stderr)")
            let listed = Set(top.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
            for name in names { #expect(listed.contains(name), "\(name) missing from: \(top.stdout)") }
            #expect(top.stdout.contains("-rw"), "long listing shows modes: \(top.stdout)")
            let inner = try runCommand(which("diodls")!, ["-s", gateway.address, "-a", directory.path, "-l", "/sub/inner"], timeout: 60)
            #expect(inner.status == 0, "diodls failed: \(inner.stderr)")
            #expect(inner.stdout.contains("deep.txt"))
        }

        @Test("--export run as root: every client acts as nobody, whatever uname it sends, so root's files stay closed",
              .enabled(if: geteuid() == 0, "the gateway must run as root for its default export-user to be nobody"))
        func exportSquashesUsers() throws {
            let directory = try makeExportDirectory("squash")
            let outside = try makeTemporaryDirectory("outside")
            defer {
                try? FileManager.default.removeItem(at: directory)
                try? FileManager.default.removeItem(at: outside)
            }
            let secret = outside.appendingPathComponent("secret")
            try Data("root only\n".utf8).write(to: secret)
            try Data("root only\n".utf8).write(to: directory.appendingPathComponent("rootonly"))
            try Data("everyone\n".utf8).write(to: directory.appendingPathComponent("public"))
            for path in [secret.path, directory.appendingPathComponent("rootonly").path] { chmod(path, 0o600) }
            // diod follows a symlink out of its export: the gateway does not open one, and squashing would keep it harmless.
            try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("link").path, withDestinationPath: secret.path)

            let gateway = try GatewayProcess(export: directory)
            defer { gateway.stop() }
            // diodcat attaches with the name of the user running it: root.
            let cat = { (name: String) in try runCommand(which("diodcat")!, ["-s", gateway.address, "-a", directory.path, name], timeout: 60) }
            let open = try cat("public")
            #expect(open.status == 0 && open.stdout == "everyone\n", "\(open.stdout) \(open.stderr)")
            // The symlink is never opened: the gateway refuses to open one (ELOOP), since diod would follow it.
            for (name, error) in [("rootonly", "Permission denied"), ("link", "Too many levels of symbolic links")] {
                let closed = try cat(name)
                #expect(closed.status != 0 && closed.stderr.contains(error), "\(name): \(closed.stdout) \(closed.stderr)")
                #expect(!closed.stdout.contains("root only"))
            }
        }

        @Test("a file whose name is not UTF-8 (Latin-1 \"café\") is listed and read through the gateway")
        func nameThatIsNotUTF8() throws {
            let fixture = try DiodBehindGateway("latin1")
            defer { fixture.stop() }
            // Linux names are bytes: the C clients pass them as they are, and so must the gateway.
            // The shell makes the byte 0xE9, which a Swift String argument cannot carry.
            let script = """
                name="$(printf 'caf\\351.txt')"
                printf 'not UTF-8, still a name' > "$1/$name"
                diodcat -s "$2" -a "$1" "$name" && diodls -s "$2" -a "$1" / | od -An -c | tr -d ' \\n'
                """
            let result = try runCommand("/bin/sh", ["-c", script, "sh", fixture.directory.path, fixture.gateway.address], timeout: 60)
            #expect(result.status == 0, "diodcat or diodls failed: \(result.stderr)")
            #expect(result.stdout.hasPrefix("not UTF-8, still a name"), "\(result.stdout)")
            #expect(result.stdout.contains("caf351.txt"), "the listing has the byte 0xE9 (octal 351): \(result.stdout)")
        }

        @Test("diodload -n 8 -r 3 runs with zero errors through the gateway")
        func diodloadNoErrors() throws {
            let fixture = try DiodBehindGateway("diodload")
            defer { fixture.stop() }
            let gateway = fixture.gateway
            for getattr in [false, true] {
                var arguments = ["-s", gateway.address, "-n", "8", "-r", "3"]
                if getattr { arguments.append("-g") }
                let result = try runCommand(which("diodload")!, arguments, timeout: 60)
                #expect(result.status == 0, "diodload failed: \(result.stderr)")
                // diodload prints "diodload: N ops/s, R rMB/s, W wMB/s" and nothing else unless it hit errors.
                let summary = (result.stdout + result.stderr).split(separator: "\n").filter { !$0.isEmpty }
                #expect(summary.count == 1, "unexpected output: \(summary)")
                let ops = summary.first.flatMap { line in
                    line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
                }
                #expect((ops ?? 0) > 0, "no operations completed: \(summary)")
            }
            #expect(gateway.process.process.isRunning)
            // Every one of diodload's sessions ended with no backend fid left behind (16, and
            // waitForPort's probe, which never negotiates).
            let closed = { logLines(gateway.process, "session closed", "dialect=9P2000.L") }
            #expect(waitFor(15) { closed().count >= 16 }, "expected 2 × 8 sessions, saw \(closed().count)")
            #expect(closed().count == 16, "\(closed())")
            #expect(closed().allSatisfy { $0.contains("backend_fids_left=0") }, "\(closed().filter { !$0.contains("backend_fids_left=0") })")
        }
    }
}
