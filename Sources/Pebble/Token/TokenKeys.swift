import Foundation

/// The root keys tokens are minted and verified with, by key id. Rotation: add a key under a new
/// id, mint with it, and retire the old id once its tokens have expired.
///
/// File form (the gateway reads the file, mode 0600): one key per line, `KID BASE64URL`, 32 bytes
/// each; blank lines and `#` comments ignored.
public struct TokenKeys: Sendable, Equatable {
    public private(set) var keys: [String: [UInt8]] = [:]
    /// Key ids in file order (the file is rewritten in this order).
    public private(set) var order: [String] = []

    public static let keySize = 32

    public init() {}

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case badLine(Int)
        case duplicate(String)

        public var description: String {
            switch self {
            case let .badLine(number): "line \(number): expected 'KID BASE64URL-KEY' (32-byte key)"
            case let .duplicate(kid): "key id \(kid) given twice"
            }
        }
    }

    public init(parsing text: String) throws(ParseError) {
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = content.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if words.isEmpty { continue }
            guard words.count == 2, Self.isValidKeyID(words[0]), let key = Base64URL.decode(words[1]), key.count == Self.keySize
            else { throw .badLine(index + 1) }
            guard keys[words[0]] == nil else { throw .duplicate(words[0]) }
            keys[words[0]] = key
            order.append(words[0])
        }
    }

    /// Adds a fresh random key; false when the id is taken or invalid.
    public mutating func generate(keyID: String) -> Bool {
        guard Self.isValidKeyID(keyID), keys[keyID] == nil, let key = TokenCrypto.randomBytes(Self.keySize) else { return false }
        keys[keyID] = key
        order.append(keyID)
        return true
    }

    public var text: String { order.map { "\($0) \(Base64URL.encode(keys[$0] ?? []))\n" }.joined() }

    /// 1–64 characters of letters, digits, `.`, `_` and `-`.
    public static func isValidKeyID(_ kid: String) -> Bool {
        (1...64).contains(kid.utf8.count)
            && kid.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
    }
}
