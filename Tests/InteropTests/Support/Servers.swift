import Foundation
import NineP

/// diod on a free loopback port exporting `directory` (and `ctl`, which diodload needs).
final class DiodServer {
    let port: UInt16
    let directory: URL
    let process: TestProcess

    /// `debug` makes diod trace every message into its log, for tests that count what reached it.
    /// `authRequired` leaves out `-n`, so diod runs with its default: Tauth answered, Tattach
    /// without an authenticated afid refused. `sigpipeKills` starts it with SIGPIPE at its default
    /// (as from a shell; the test runner may ignore it, and children inherit that): a reset
    /// connection it writes to then kills it.
    init(exporting directory: URL, debug: Bool = false, authRequired: Bool = false, sigpipeKills: Bool = false) throws {
        try requireTool("diod", install: "apt-get install -y diod")
        self.directory = directory
        port = freePort()
        var arguments = (authRequired ? ["-f"] : ["-f", "-n"]) + ["-c", "/dev/null", "-l", "127.0.0.1:\(port)", "-e", directory.path, "-e", "ctl", "-L", "stderr"]
        if debug { arguments += ["-d", "1"] }
        process = sigpipeKills
            ? try TestProcess(name: "diod", executable: "/usr/bin/env", arguments: ["--default-signal=PIPE", which("diod")!] + arguments)
            : try TestProcess(name: "diod", executable: which("diod")!, arguments: arguments)
        try waitForPort(port, process: process)
    }

    var spec: String { "tcp:127.0.0.1:\(port)" }

    /// True while one of diod's threads sleeps in open(2) of a FIFO that has no writer yet
    /// (the kernel's fifo_open waits in wait_for_partner).
    func blockedOpeningFIFO() throws -> Bool {
        try threadWaitChannels(process.pid).contains("wait_for_partner")
    }

    func stop() { process.stop() }
}

/// The built pebble9p gateway on a free loopback port.
final class GatewayProcess {
    let port: UInt16
    let process: TestProcess

    init(backend: String, extra: [String] = []) throws {
        try requireTool(Paths.gateway, install: "swift build (the test target builds pebble9p)")
        port = freePort()
        process = try TestProcess(
            name: "pebble9p", executable: Paths.gateway,
            arguments: ["serve", "--listen", "127.0.0.1:\(port)", "--backend", backend, "--log-level", "debug"] + extra)
        try waitForPort(port, process: process)
    }

    init(export directory: URL, extra: [String] = []) throws {
        try requireTool(Paths.gateway, install: "swift build (the test target builds pebble9p)")
        try requireTool("diod", install: "apt-get install -y diod")
        port = freePort()
        process = try TestProcess(
            name: "pebble9p", executable: Paths.gateway,
            arguments: ["serve", "--listen", "127.0.0.1:\(port)", "--export", directory.path, "--log-level", "debug"] + extra)
        try waitForPort(port, process: process)
    }

    var address: String { "127.0.0.1:\(port)" }

    func stop() { process.stop() }
}

/// A fresh temporary directory exported by diod, with the pebble9p gateway in front of it: the
/// setup most interop tests share. Tests that need files in the export write them into `directory`
/// after creation (diod serves files created later).
///
/// Keep it in a local `let` for the whole test: when the test's scope ends, `deinit` stops the
/// gateway, then diod (each by pid), then removes the directory — the order the tests' `defer`s had.
class DiodBehindGateway {
    let directory: URL
    let diod: DiodServer
    let gateway: GatewayProcess

    /// `debug` turns on diod's message trace; `extra` are more `serve` flags for the gateway;
    /// `exporting` is a directory made by the caller (flags may name it), else a fresh one.
    init(_ label: String, debug: Bool = false, authRequired: Bool = false, extra: [String] = [],
         exporting existing: URL? = nil, sigpipeKills: Bool = false) throws {
        let directory = try existing ?? makeTemporaryDirectory(label)
        do {
            diod = try DiodServer(exporting: directory, debug: debug, authRequired: authRequired, sigpipeKills: sigpipeKills)
            gateway = try GatewayProcess(backend: diod.spec, extra: extra)
        } catch {
            // deinit does not run for an object that never finished its init.
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        self.directory = directory
    }

    /// Stops both processes by pid and removes the directory. Tests call it in a `defer`, which
    /// also keeps the fixture alive to the end of the test in optimised builds.
    func stop() {
        gateway.stop()
        diod.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }

    /// A new session on the gateway, negotiated (9P2000.L, msize 65536) and attached as fid 1 to `directory`.
    func attachedClient(msize: UInt32 = 65536) throws -> RawClient {
        let client = try RawClient(port: gateway.port)
        _ = try client.negotiate(msize: msize)
        try client.attach(aname: directory.path)
        return client
    }

    /// An attached client whose one request at diod never ends by itself: fid 2 walked to a new
    /// FIFO in `directory` and a Tlopen of it sent with tag 10 (diod blocks in open(2) until the
    /// FIFO has a writer: `releaseFIFO` lets it go). Returns once a diod thread is seen blocked in
    /// that open(2); throws if none is within 15 s. Receives time out after 15 s.
    func clientBlockedOnFIFO() throws -> (client: RawClient, fifo: String) {
        let fifo = directory.appendingPathComponent("fifo").path
        guard mkfifo(fifo, 0o666) == 0 else { throw MissingTool(description: "mkfifo: errno \(errno)") }
        let client = try attachedClient()
        var timeout = timeval(tv_sec: 15, tv_usec: 0)
        setsockopt(client.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard case .walk = try client.rpc(.walk(Twalk(fid: 1, newfid: 2, wnames: ["fifo"]))) else {
            throw MissingTool(description: "walk to the FIFO failed")
        }
        try client.send(.lopen(Tlopen(fid: 2, flags: 0)), tag: 10)
        var blocked = false
        _ = waitFor(15) { blocked = (try? diod.blockedOpeningFIFO()) ?? false; return blocked }
        guard blocked else {
            throw MissingTool(description: "diod's open of the FIFO did not block (wchan: \((try? threadWaitChannels(diod.process.pid)) ?? []))")
        }
        return (client, fifo)
    }

    /// Opens the FIFO for writing and closes it again, which ends diod's blocked open(2). False
    /// when nobody had it open for reading (no open was blocked on it).
    @discardableResult
    func releaseFIFO(_ fifo: String) -> Bool {
        let writer = open(fifo, O_WRONLY | O_NONBLOCK)
        guard writer >= 0 else { return false }
        close(writer)
        return true
    }
}

/// Runs one of the Python client scenarios in Tests/InteropTests/clients with the venv's Python.
func runPythonScenario(_ script: String, strict: Bool = false, _ arguments: [String], timeout: Double = 300) throws -> CommandResult {
    let python = strict ? Paths.strictVenvPython : Paths.venvPython
    try requireTool(python, install: "scripts/setup (creates .venv with p9fs==0.0.4 aio9p==0.3.3 and .venv-strict with python-9p==0.1.0)")
    return try runCommand(python, [Paths.clients.appendingPathComponent(script).path] + arguments, timeout: timeout)
}
