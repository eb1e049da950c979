/// A path below a capability's root, as names: absolute, normalised, no empty, `.` or `..`
/// components, no NUL. The root is no names.
public struct CapabilityPath: Sendable, Hashable, CustomStringConvertible {
    public private(set) var names: [String]

    public static let root = CapabilityPath(names: [])

    public init(names: [String]) { self.names = names }

    /// Parses `/a/b` (a trailing `/` is allowed); nil for a relative path or a bad component.
    public init?(_ text: String) {
        guard text.hasPrefix("/") else { return nil }
        let names = text.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard names.allSatisfy(Self.isPlainName) else { return nil }
        self.names = names
    }

    /// A name a walk may step to without leaving the directory it is in.
    public static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
    }

    /// The path one name further down.
    public func appending(_ name: String) -> CapabilityPath { CapabilityPath(names: names + [name]) }

    /// Whether `self` is `other` or below it.
    public func isInside(_ other: CapabilityPath) -> Bool {
        names.count >= other.names.count && Array(names.prefix(other.names.count)) == other.names
    }

    public var description: String { "/" + names.joined(separator: "/") }
}
