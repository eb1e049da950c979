import Foundation

/// One condition of a token, written `key = value`. Every caveat must hold; repeated ones
/// intersect (`Capability`). Parsed strictly: an unknown key is refused, so a gateway never
/// ignores a restriction it does not understand.
public enum Caveat: Sendable, Equatable, CustomStringConvertible {
    /// The backend (route name) the token may reach.
    case backend(String)
    /// The subtree the session is confined to: an absolute path below the backend's export.
    case path(String)
    case rights(Rights)
    case expires(Date)
    /// The backend user the session attaches as.
    case uname(String)
    /// The client identity that may present it (`ClientIdentity`: `uri:…`, `dns:…`, `cn:…`, the
    /// bare name, or a peer address without port).
    case client(String)
    /// The network the client must connect from.
    case from(AddressRange)
    /// Budgets, carried for the budgets issue: live fids, bytes held, operations and bytes per second.
    case fids(Int)
    case quota(Int)
    case rateOps(Int)
    case rateBytes(Int)

    public static func parse(_ text: String) throws(TokenError) -> Caveat {
        guard let equals = text.firstIndex(of: "=") else { throw .badCaveat(text) }
        let key = text[..<equals].trimmingCharacters(in: .whitespaces)
        let value = text[text.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        guard !value.isEmpty || key == "rights" else { throw .badCaveat(text) }
        switch key {
        case "backend": return .backend(value)
        case "path":
            guard let path = CapabilityPath(value) else { throw .badCaveat(text) }
            return .path(path.description)
        case "rights":
            guard let rights = Rights(letters: value) else { throw .badCaveat(text) }
            return .rights(rights)
        case "expires":
            guard let date = Self.parseDate(value) else { throw .badCaveat(text) }
            return .expires(date)
        case "uname": return .uname(value)
        case "client": return .client(value)
        case "from":
            guard let range = AddressRange(value) else { throw .badCaveat(text) }
            return .from(range)
        case "fids", "quota", "rate-ops", "rate-bytes":
            guard let number = Int(value), number >= 0, value.allSatisfy(\.isNumber) else { throw .badCaveat(text) }
            switch key {
            case "fids": return .fids(number)
            case "quota": return .quota(number)
            case "rate-ops": return .rateOps(number)
            default: return .rateBytes(number)
            }
        default:
            throw .unknownCaveat(key)
        }
    }

    /// The canonical text, as it is stored in a token.
    public var description: String {
        switch self {
        case let .backend(name): "backend = \(name)"
        case let .path(path): "path = \(path)"
        case let .rights(rights): "rights = \(rights)"
        case let .expires(date): "expires = \(Self.formatDate(date))"
        case let .uname(name): "uname = \(name)"
        case let .client(identity): "client = \(identity)"
        case let .from(range): "from = \(range)"
        case let .fids(count): "fids = \(count)"
        case let .quota(bytes): "quota = \(bytes)"
        case let .rateOps(count): "rate-ops = \(count)"
        case let .rateBytes(bytes): "rate-bytes = \(bytes)"
        }
    }

    /// RFC 3339 (`2027-01-31T12:00:00Z`, fractional seconds and offsets allowed).
    static func parseDate(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    static func formatDate(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
