/// Where the 9P server is: `tcp:HOST:PORT`, `unix:PATH`, or `exec:COMMAND…` (a server started per
/// client session, speaking 9P on its stdin/stdout, as `diod -r 0 -w 1` and inetd-style servers do).
public enum BackendSpec: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: UInt16)
    case unix(path: String)
    case exec(command: String)

    public init(parsing text: String) throws(ConfigError) {
        if text.hasPrefix("tcp:") {
            let rest = String(text.dropFirst(4))
            guard let colon = rest.lastIndex(of: ":"), let port = UInt16(rest[rest.index(after: colon)...]),
                  colon != rest.startIndex
            else {
                throw ConfigError(key: "backend", message: "expected tcp:HOST:PORT, got \"\(text)\"")
            }
            var host = String(rest[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { throw ConfigError(key: "backend", message: "expected tcp:HOST:PORT, got \"\(text)\"") }
            self = .tcp(host: host, port: port)
        } else if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw ConfigError(key: "backend", message: "expected unix:PATH") }
            self = .unix(path: path)
        } else if text.hasPrefix("exec:") {
            let command = String(text.dropFirst(5)).trimmingSpaces
            guard !command.isEmpty else { throw ConfigError(key: "backend", message: "expected exec:COMMAND") }
            self = .exec(command: command)
        } else {
            throw ConfigError(key: "backend", message: "backend must start with tcp:, unix: or exec:, got \"\(text)\"")
        }
    }

    /// The embedded default for `--export DIR`: diod serving DIR to one client over the socketpair,
    /// with every client squashed to `user` (diod -n trusts whatever uname a client sends).
    public static func diod(exporting directory: String, diodPath: String = "diod", user: String = "nobody") -> BackendSpec {
        .exec(command: "exec \(shellQuoted(diodPath)) -n -S -U \(shellQuoted(user)) -c /dev/null -L stderr -r 0 -w 1 -e \(shellQuoted(directory))")
    }

    public var description: String {
        switch self {
        case let .tcp(host, port): host.contains(":") ? "tcp:[\(host)]:\(port)" : "tcp:\(host):\(port)"
        case let .unix(path): "unix:\(path)"
        case let .exec(command): "exec:\(command)"
        }
    }
}

/// Single-quotes a word for /bin/sh.
func shellQuoted(_ word: String) -> String {
    "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

extension String {
    var trimmingSpaces: String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
