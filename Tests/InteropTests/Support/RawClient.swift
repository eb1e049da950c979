import Foundation
import NineP
#if canImport(Glibc)
import Glibc
#endif

/// A blocking, one-request-at-a-time 9P client over a plain socket, built on the project's codec.
/// It can also send arbitrary bytes, which is what the hostile-input tests need.
final class RawClient {
    let fd: Int32
    var dialect: Dialect

    init(port: UInt16, dialect: Dialect = .linux) throws {
        guard let fd = connectLoopback(port: port, timeoutSeconds: 20) else {
            throw MissingTool(description: "cannot connect to 127.0.0.1:\(port)")
        }
        self.fd = fd
        self.dialect = dialect
    }

    private var isClosed = false

    deinit { if !isClosed { close(fd) } }

    /// Closes the connection abruptly, as a client killed mid-request does on a lossy path: a
    /// TCP reset (SO_LINGER 0), with whatever was in flight lost.
    func reset() {
        guard !isClosed else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
        isClosed = true
    }

    /// This end's address as the gateway logs it (`peer=127.0.0.1:PORT`).
    var localAddress: String {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return "127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
    }

    func sendRaw(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            // MSG_NOSIGNAL: a gateway that closed the connection must not kill the test runner with SIGPIPE.
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw MissingTool(description: "write failed: errno \(errno)") }
            offset += written
        }
    }

    /// Sends `ping` with `tag` and reads (and drops) every reply up to its answer, so the gateway
    /// has handled all that was sent before: a sender of hostile frames can then tell a closed
    /// connection (false: EOF, a reset, or the send failed) from a live one. A gateway that never
    /// answers makes the receive time out and throw.
    func settled(ping: TMessage, tag: UInt16) throws -> Bool {
        guard (try? send(ping, tag: tag)) != nil else { return false }
        while let frame = try readFrame() {
            if UInt16(frame[5]) | UInt16(frame[6]) << 8 == tag { return true }
        }
        return false
    }

    func send(_ message: TMessage, tag: UInt16) throws {
        try sendRaw(Frame(tag: tag, message: message).encode(dialect: dialect))
    }

    /// Reads one whole frame, or nil at EOF (the gateway closed the connection).
    func readFrame() throws -> [UInt8]? {
        guard let header = try readExactly(7) else { return nil }
        let size = Int(UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24)
        guard size >= 7, size <= 16 << 20 else { throw MissingTool(description: "bad reply size \(size)") }
        guard let body = try readExactly(size - 7) else { return nil }
        return header + body
    }

    func receive() throws -> Frame<RMessage>? {
        guard let frame = try readFrame() else { return nil }
        return try Frame<RMessage>.decode(frame, dialect: dialect)
    }

    /// Sends one request and returns its reply.
    func rpc(_ message: TMessage, tag: UInt16 = 1) throws -> RMessage {
        try send(message, tag: tag)
        guard let reply = try receive() else { throw MissingTool(description: "connection closed during \(message.type)") }
        guard reply.tag == tag else { throw MissingTool(description: "reply tag \(reply.tag), expected \(tag)") }
        return reply.message
    }

    func negotiate(msize: UInt32 = 65536) throws -> Rversion {
        guard case let .version(reply) = try rpc(.version(Tversion(msize: msize, version: dialect.version)), tag: NineP.noTag) else {
            throw MissingTool(description: "no Rversion")
        }
        return reply
    }

    /// Tattach with no auth fid and an empty uname; returns the reply (Rattach or Rlerror).
    @discardableResult
    func attach(fid: UInt32 = 1, aname: String) throws -> RMessage {
        try rpc(.attach(Tattach(fid: fid, afid: NineP.noFid, uname: "", aname: WireString(aname), nUname: 0)))
    }

    private func readExactly(_ count: Int) throws -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let got = buffer[offset...].withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if got == 0 { return nil }
            if got < 0 {
                if errno == ECONNRESET { return nil }
                throw MissingTool(description: "read failed: errno \(errno)")
            }
            offset += got
        }
        return buffer
    }
}
