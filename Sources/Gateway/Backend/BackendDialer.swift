import CLibUV
import CShims
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Opens the backend connection for one session. TCP and Unix connects are non-blocking (the
/// session queues its Tversion until the socket is writable); `exec:` starts the server on one end
/// of a socketpair.
struct BackendDialer {
    let spec: BackendSpec
    /// Resolved once at startup, so no session blocks its loop on DNS.
    let address: SocketAddress?

    init(spec: BackendSpec) throws(ConfigError) {
        self.spec = spec
        switch spec {
        case let .tcp(host, port):
            let hostPart = host.contains(":") ? "[\(host)]" : host
            address = try SocketAddress.resolve(hostPort: "\(hostPart):\(port)")
        case let .unix(path):
            address = try SocketAddress.unix(path: path)
        case .exec:
            address = nil
        }
    }

    /// Whether dialing starts a server process (`exec:`) rather than connecting to a listener.
    var startsProcess: Bool {
        if case .exec = spec { true } else { false }
    }

    struct Dialed {
        let fd: Int32
        /// True while a non-blocking connect is still in progress.
        let connecting: Bool
        let process: ChildProcess?
    }

    func dial(on loop: EventLoop) throws(BackendError) -> Dialed {
        switch spec {
        case .tcp, .unix:
            guard let address else { throw BackendError(message: "no address for \(spec)") }
            let fd = pebble_stream_socket(address.family)
            guard fd >= 0 else { throw BackendError(message: "socket: \(String(cString: strerror(errno)))") }
            configureStreamSocket(fd, isTCP: address.family != AF_UNIX)
            let status = address.withSockaddr { connect(fd, $0, $1) }
            if status == 0 { return Dialed(fd: fd, connecting: false, process: nil) }
            let error = errno
            // Only EINPROGRESS means "connecting". EAGAIN is a failure: a unix socket's backlog is
            // full, or TCP has no local port left.
            if error == EINPROGRESS { return Dialed(fd: fd, connecting: true, process: nil) }
            Foundation.close(fd)
            throw BackendError(message: "connect \(address): \(String(cString: strerror(error)))")
        case let .exec(command):
            var pair: [Int32] = [-1, -1]
            guard pebble_socketpair_cloexec(&pair) == 0 else {
                throw BackendError(message: "socketpair: \(String(cString: strerror(errno)))")
            }
            let process: ChildProcess
            do {
                process = try ChildProcess(loop: loop, command: command, fd: pair[1])
            } catch {
                Foundation.close(pair[0])
                Foundation.close(pair[1])
                throw error
            }
            Foundation.close(pair[1])
            _ = pebble_set_nonblocking(pair[0])
            return Dialed(fd: pair[0], connecting: false, process: process)
        }
    }
}

struct BackendError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// A backend server started for one session. Its uv_process_t keeps it alive until it exits and
/// libuv has reaped it; nothing else needs to hold it.
final class ChildProcess {
    private let handle: UnsafeMutablePointer<uv_process_t>
    let pid: Int32
    /// Set once libuv has reaped it: after that its pid may belong to another process.
    private(set) var exited = false

    init(loop: EventLoop, command: String, fd: Int32) throws(BackendError) {
        let handle = UnsafeMutablePointer<uv_process_t>.allocate(capacity: 1)
        self.handle = handle
        let status = command.withCString { pebble_spawn_shell(loop.raw, handle, $0, fd) { process, _, _ in
            guard let process else { return }
            if let data = process.pointee.data { Unmanaged<ChildProcess>.fromOpaque(data).takeUnretainedValue().exited = true }
            closeOwnedHandle(pebble_process_handle(process))
        } }
        guard status == 0 else {
            // libuv initialised the handle even though the spawn failed: it must still be closed.
            handle.pointee.data = nil
            closeOwnedHandle(pebble_process_handle(handle))
            throw BackendError(message: "cannot start \"\(command)\": \(String(cString: uv_strerror(status)))")
        }
        pid = handle.pointee.pid
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    /// SIGTERM to its process group (the shell and what it started, since the server is detached
    /// into a group of its own), unless it has already exited and been reaped (then the pid is not
    /// ours any more).
    func terminate() {
        guard !exited else { return }
        kill(-pid, SIGTERM)
    }
}
