import Foundation
import Pebble

/// A value from the config file or the command line.
public enum ConfigValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    /// A command-line word: accepted where a string or an integer is expected.
    case word(String)
    /// A TOML array on one line (`["a", "b"]`), or a flag given more than once.
    case list([ConfigValue])
    /// TOML's `true` or `false`.
    case boolean(Bool)

    func string() throws(ConfigError) -> String {
        switch self {
        case let .string(text), let .word(text): return text
        case .integer: throw ConfigError(key: nil, message: "expected a quoted string")
        case .list: throw ConfigError(key: nil, message: "expected one quoted string, not a list")
        case .boolean: throw ConfigError(key: nil, message: "expected a quoted string")
        }
    }

    /// true or false (TOML's booleans; a flag given is the word "true").
    /// `on` or `off` (a switch such as `pebble` or `blue`).
    func onOff() throws(ConfigError) -> Bool {
        switch try string() {
        case "on": return true
        case "off": return false
        default: throw ConfigError(key: nil, message: "must be on or off")
        }
    }

    func boolean() throws(ConfigError) -> Bool {
        switch self {
        case let .boolean(value): return value
        case .word("true"): return true
        case .word("false"): return false
        default: throw ConfigError(key: nil, message: "expected true or false")
        }
    }

    /// One string, or a list of them.
    func strings() throws(ConfigError) -> [String] {
        guard case let .list(values) = self else { return [try string()] }
        var result: [String] = []
        for value in values { result.append(try value.string()) }
        return result
    }

    func integer(in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        let number: Int
        switch self {
        case let .integer(value): number = value
        case let .word(text):
            guard let value = Int(text) else { throw ConfigError(key: nil, message: "expected an integer, got \"\(text)\"") }
            number = value
        case let .string(text): throw ConfigError(key: nil, message: "expected an integer, got the string \"\(text)\"")
        case .list: throw ConfigError(key: nil, message: "expected an integer, not a list")
        case .boolean: throw ConfigError(key: nil, message: "expected an integer, not true or false")
        }
        guard range.contains(number) else {
            throw ConfigError(key: nil, message: "\(number) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    /// A byte count: an integer, or a word or string such as `256M`, `1G`, `64KiB` (`ByteCount`).
    func byteCount() throws(ConfigError) -> Int {
        switch self {
        case let .integer(value) where value >= 0: return value
        case let .word(text), let .string(text):
            guard let bytes = ByteCount.parse(text) else {
                throw ConfigError(key: nil, message: "expected a byte count such as 65536, 64K, 256M or 1G, got \"\(text)\"")
            }
            return bytes
        default: throw ConfigError(key: nil, message: "expected a byte count such as 65536, 64K, 256M or 1G")
        }
    }
}

/// The config file: TOML's flat subset — `key = "string"` or `key = 123`, `#` comments, blank lines.
/// Written by hand rather than with a TOML library because the gateway's settings are flat, every
/// error must name its line and key (`pebble9p check`), and CI rebuilds every dependency each run.
/// A valid pebble9p file is a valid TOML file.
public enum ConfigFile {
    public static func load(path: String, into config: inout GatewayConfig) throws(ConfigError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(key: nil, message: "cannot read \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(key: nil, message: "\(path) is not UTF-8")
        }
        try parse(text, into: &config)
    }

    public static func parse(_ text: String, into config: inout GatewayConfig) throws(ConfigError) {
        var seen: Set<String> = []
        // TOML lines end in LF or CRLF. Swift reads "\r\n" as one Character, so splitting on "\n"
        // alone would make a CRLF file a single line.
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        for (index, rawLine) in lines.enumerated() {
            let line = index + 1
            let content = stripComment(String(rawLine)).trimmingSpaces
            if content.isEmpty { continue }
            if content.hasPrefix("[") {
                throw ConfigError(key: nil, line: line, message: "tables are not used; write keys at the top level")
            }
            guard let equals = content.firstIndex(of: "=") else {
                throw ConfigError(key: nil, line: line, message: "expected key = value")
            }
            let key = String(content[..<equals]).trimmingSpaces
            let valueText = String(content[content.index(after: equals)...]).trimmingSpaces
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw ConfigError(key: key.isEmpty ? nil : key, line: line, message: "bad key")
            }
            guard seen.insert(key).inserted else {
                throw ConfigError(key: key, line: line, message: "set twice")
            }
            let value = try parseValue(valueText, key: key, line: line)
            try config.set(key, value, line: line)
        }
    }

    private static func stripComment(_ line: String) -> String {
        var inString = false
        var escaped = false
        var result = ""
        for character in line {
            if inString {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inString = false }
            } else if character == "\"" {
                inString = true
            } else if character == "#" {
                break
            }
            result.append(character)
        }
        return result
    }

    private static func parseValue(_ text: String, key: String, line: Int) throws(ConfigError) -> ConfigValue {
        if text == "true" || text == "false" { return .boolean(text == "true") }
        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else { throw ConfigError(key: key, line: line, message: "unterminated list (a list stays on one line)") }
            var parts = splitList(String(text.dropFirst().dropLast())).map { String($0).trimmingSpaces }
            // TOML allows a comma after the last element.
            if parts.count > 1, parts.last?.isEmpty == true { parts.removeLast() }
            var elements: [ConfigValue] = []
            for trimmed in parts {
                guard trimmed.hasPrefix("\"") else {
                    throw ConfigError(key: key, line: line, message: "a list holds quoted strings, got \(trimmed.isEmpty ? "an empty element" : trimmed)")
                }
                elements.append(try parseValue(trimmed, key: key, line: line))
            }
            return .list(elements)
        }
        if text.hasPrefix("\"") {
            guard text.count >= 2, text.hasSuffix("\"") else {
                throw ConfigError(key: key, line: line, message: "unterminated string")
            }
            var result = ""
            var escaped = false
            for character in text.dropFirst().dropLast() {
                if escaped {
                    switch character {
                    case "\"": result.append("\"")
                    case "\\": result.append("\\")
                    case "n": result.append("\n")
                    case "t": result.append("\t")
                    default: throw ConfigError(key: key, line: line, message: "unknown escape \\\(character)")
                    }
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    throw ConfigError(key: key, line: line, message: "stray quote in string")
                } else {
                    result.append(character)
                }
            }
            if escaped { throw ConfigError(key: key, line: line, message: "unterminated escape") }
            return .string(result)
        }
        // TOML allows "_" only between two digits (1_000, not _1 or 1__0).
        let characters = Array(text)
        let underscoresOK = characters.indices.allSatisfy { index in
            characters[index] != "_" || (index > 0 && index + 1 < characters.count
                && characters[index - 1].isASCIIDigit && characters[index + 1].isASCIIDigit)
        }
        if underscoresOK, let number = Int(text.replacingOccurrences(of: "_", with: "")) { return .integer(number) }
        throw ConfigError(key: key, line: line, message: "expected a quoted string or an integer, got \(text)")
    }
}

extension ConfigFile {
    /// The comma-separated elements of a list's inside, commas in quoted strings kept.
    fileprivate static func splitList(_ text: String) -> [Substring] {
        var parts: [Substring] = []
        var start = text.startIndex
        var inString = false
        var escaped = false
        for index in text.indices {
            let character = text[index]
            if inString {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inString = false }
            } else if character == "\"" {
                inString = true
            } else if character == "," {
                parts.append(text[start..<index])
                start = text.index(after: index)
            }
        }
        if !text.isEmpty { parts.append(text[start...]) }
        return parts
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
