/// A configuration value the gateway cannot use, with the key and (for a file) the line it came from,
/// so `pebble9p check` can point at it.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public var key: String?
    public var line: Int?
    public var message: String

    public init(key: String?, line: Int? = nil, message: String) {
        self.key = key
        self.line = line
        self.message = message
    }

    public var description: String {
        var parts: [String] = []
        if let line { parts.append("line \(line)") }
        if let key { parts.append("key \"\(key)\"") }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}
