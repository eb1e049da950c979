import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Where the repository and the built gateway are.
enum Paths {
    static let repository: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The pebble9p binary under test: `PEBBLE9P_BIN` when set (scripts/test points it at the
    /// release build for a second interop run), else the one built with the tests.
    static var gateway: String {
        if let override = ProcessInfo.processInfo.environment["PEBBLE9P_BIN"] { return override }
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var candidates = [besideTests.appendingPathComponent("pebble9p").path]
        // xctest bundles on Linux sit next to the products; Swift Testing may run from a helper.
        candidates.append(repository.appendingPathComponent(".build/debug/pebble9p").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }

    static let clients = repository.appendingPathComponent("Tests/InteropTests/clients")
    /// The venv with p9fs and aio9p (made by scripts/setup; `PEBBLE9P_VENV` puts it elsewhere).
    static let venvPython = venv("PEBBLE9P_VENV", default: ".venv")
    /// The venv with python-9p (its own: it also installs a package named py9p; `PEBBLE9P_VENV_STRICT`).
    static let strictVenvPython = venv("PEBBLE9P_VENV_STRICT", default: ".venv-strict")

    /// The venv's python: where scripts/setup made it, which honours the same variable.
    private static func venv(_ variable: String, default name: String) -> String {
        let directory = ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 }
            ?? repository.appendingPathComponent(name).path
        return URL(fileURLWithPath: directory).appendingPathComponent("bin/python").path
    }
}

struct MissingTool: Error, CustomStringConvertible {
    let description: String
}

/// Fails (never skips) when a tool is missing, naming the command that installs it.
func requireTool(_ path: String, install: String) throws {
    let resolved = path.hasPrefix("/") ? path : which(path)
    guard let resolved, FileManager.default.isExecutableFile(atPath: resolved) else {
        throw MissingTool(description: "\(path) is missing; install it with: \(install)")
    }
}

func which(_ name: String) -> String? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/usr/sbin").split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// Ports `freePort` has handed out in this test run: the kernel may give a just-released port
/// out again, and two processes of one test told the same port fail to start.
private let portsHandedOut = Mutex<Set<UInt16>>([])

/// A free TCP port on 127.0.0.1 (bound, read, released), never one handed out before in this run.
func freePort() -> UInt16 {
    while true {
        let port = kernelFreePort()
        if portsHandedOut.withLock({ $0.insert(port).inserted }) { return port }
    }
}

private func kernelFreePort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return UInt16(bigEndian: address.sin_port)
}

/// Connects a blocking TCP socket to 127.0.0.1:port, or returns nil.
func connectLoopback(port: UInt16, timeoutSeconds: Int = 30) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = port.bigEndian
    let status = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard status == 0 else { close(fd); return nil }
    var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    return fd
}

/// A process the test started; stopped by its pid, never by name.
final class TestProcess: @unchecked Sendable {
    let process = Process()
    let name: String
    let logURL: URL

    init(name: String, executable: String, arguments: [String], environment: [String: String]? = nil) throws {
        self.name = name
        logURL = FileManager.default.temporaryDirectory.appendingPathComponent("pebble9p-test-\(name)-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = unmaskedSignals + [executable] + arguments
        if let environment { process.environment = environment }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// SIGTERM, then SIGKILL if it has not exited within five seconds.
    func stop() {
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: logURL)
    }
}

/// Waits until something accepts on 127.0.0.1:port.
func waitForPort(_ port: UInt16, process: TestProcess, seconds: Double = 20) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let fd = connectLoopback(port: port) { close(fd); return }
        if !process.process.isRunning {
            throw MissingTool(description: "\(process.name) exited early:\n\(process.log)")
        }
        usleep(50_000)
    }
    throw MissingTool(description: "\(process.name) did not listen on \(port) in \(seconds)s:\n\(process.log)")
}

/// Polls `condition` until it holds or `seconds` have passed (a bound on waiting for an event, not
/// a measurement: what the tests assert is the condition). True if it held.
func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// Sends SIGSTOP to `pid` and returns once every one of its threads is stopped (state T in
/// /proc/PID/task/TID/stat): kill(2) returns when the signal is queued, and a thread still running
/// on the other core could otherwise answer one more request. False if not all stopped within 5 s.
@discardableResult
func freeze(_ pid: Int32) -> Bool {
    guard kill(pid, SIGSTOP) == 0 else { return false }
    return waitFor(5) {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"), !tasks.isEmpty else { return false }
        return tasks.allSatisfy { task in
            guard let stat = try? readWholeFile("/proc/\(pid)/task/\(task)/stat"),
                  let close = stat.lastIndex(of: ")") else { return false }
            // "PID (comm) S ...": the state follows the last ')' (comm may hold spaces or parens).
            return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("T")
        }
    }
}

/// The kernel's word for where each thread of `pid` sleeps (/proc/PID/task/TID/wchan; "0" for a
/// running thread). Throws when /proc cannot be read, so no check passes on an empty reading.
func threadWaitChannels(_ pid: Int32) throws -> [String] {
    let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
    return try tasks.map { try readWholeFile("/proc/\(pid)/task/\($0)/wchan") }
}

/// A file read to its end with read(2). /proc files report size 0 and come a page per read;
/// Foundation's String(contentsOfFile:) returned only the first page of /proc/net/tcp here.
func readWholeFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw MissingTool(description: "cannot open \(path): errno \(errno)") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if got < 0 && errno == EINTR { continue }
        guard got >= 0 else { throw MissingTool(description: "cannot read \(path): errno \(errno)") }
        if got == 0 { break }
        bytes += chunk[0..<got]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// One IPv4 socket of /proc/net/tcp. Addresses as the kernel writes them ("0100007F:PORT" in
/// hex, see `loopbackAddress`); `receiveQueue` is a listener's accept queue, and for a
/// connection the bytes that arrived and its owner has not read yet.
struct TCPSocketRow {
    let local: String
    let remote: String
    let listening: Bool
    let receiveQueue: Int

    static func all() throws -> [TCPSocketRow] {
        try readWholeFile("/proc/net/tcp").split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let queues = fields[4].split(separator: ":")
            guard queues.count == 2, let receiveQueue = Int(queues[1], radix: 16) else { return nil }
            return TCPSocketRow(local: String(fields[1]), remote: String(fields[2]), listening: fields[3] == "0A",
                                receiveQueue: receiveQueue)
        }
    }

    /// 127.0.0.1:port as /proc/net/tcp writes it.
    static func loopbackAddress(_ port: UInt16) -> String { String(format: "0100007F:%04X", port) }
}

/// Bytes that arrived on the loopback TCP connection `localPort` ← `remotePort` and that its owner
/// has not read yet. Throws when there is no such connection.
func unreadBytes(localPort: UInt16, remotePort: UInt16) throws -> Int {
    let (local, remote) = (TCPSocketRow.loopbackAddress(localPort), TCPSocketRow.loopbackAddress(remotePort))
    guard let row = try TCPSocketRow.all().first(where: { $0.local == local && $0.remote == remote }) else {
        throw MissingTool(description: "no connection \(local) <- \(remote) in /proc/net/tcp")
    }
    return row.receiveQueue
}

/// The gateway's log lines that contain every one of `words`.
func logLines(_ process: TestProcess, _ words: String...) -> [Substring] {
    process.log.split(separator: "\n").filter { line in words.allSatisfy { line.contains($0) } }
}

/// Output of a command run to completion (bounded by `timeout` seconds).
struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// env(1) arguments that undo the signal mask the test runner's threads hand to every child
/// (SIGTERM, SIGINT and SIGALRM blocked): a child keeping it cannot be stopped with SIGTERM, and
/// a Python scenario's alarm deadline would never fire.
let unmaskedSignals = ["--default-signal=TERM,INT,ALRM"]

@discardableResult
func runCommand(_ executable: String, _ arguments: [String], timeout: Double = 300,
                stdoutTo file: URL? = nil) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = unmaskedSignals + [executable] + arguments
    let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("cmd-err-\(UUID().uuidString)")
    let outURL = file ?? FileManager.default.temporaryDirectory.appendingPathComponent("cmd-out-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: errURL)
        if file == nil { try? FileManager.default.removeItem(at: outURL) }
    }
    process.standardOutput = try FileHandle(forWritingTo: outURL)
    process.standardError = try FileHandle(forWritingTo: errURL)
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw MissingTool(description: "\(executable) \(arguments.joined(separator: " ")) timed out after \(timeout)s")
    }
    let stdout = file == nil ? ((try? String(contentsOf: outURL, encoding: .utf8)) ?? "") : ""
    return CommandResult(status: process.terminationStatus, stdout: stdout,
                         stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
}

/// A fresh directory under /tmp, removed by the caller.
func makeTemporaryDirectory(_ label: String) throws -> URL {
    let url = URL(fileURLWithPath: "/tmp").appendingPathComponent("pebble9p-\(label)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A directory for `--export` that its clients can write: owned by the user they act as
/// (`export-user`: nobody when the tests run as root, else the user running them).
func makeExportDirectory(_ label: String) throws -> URL {
    let url = try makeTemporaryDirectory(label)
    if geteuid() == 0, let nobody = getpwnam("nobody") {
        guard chown(url.path, nobody.pointee.pw_uid, nobody.pointee.pw_gid) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPERM)
        }
    }
    return url
}
