/// What a capability lets its holder do, one letter each (the token's `rights` caveat).
public struct Rights: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `l`: walk, stat/getattr, read directories, readlink, statfs, read xattrs.
    public static let lookup = Rights(rawValue: 1 << 0)
    /// `r`: read file data.
    public static let read = Rights(rawValue: 1 << 1)
    /// `w`: write file data, fsync, truncate.
    public static let write = Rights(rawValue: 1 << 2)
    /// `c`: create files and directories, symlinks, device nodes, hard links.
    public static let create = Rights(rawValue: 1 << 3)
    /// `d`: remove, unlink, rename away.
    public static let delete = Rights(rawValue: 1 << 4)
    /// `m`: change metadata (wstat, setattr other than size, set xattrs).
    public static let modify = Rights(rawValue: 1 << 5)

    public static let all: Rights = [.lookup, .read, .write, .create, .delete, .modify]

    /// Letters in canonical order.
    static let letters: [(Character, Rights)] = [("l", .lookup), ("r", .read), ("w", .write), ("c", .create), ("d", .delete), ("m", .modify)]

    /// Parses letters from `lrwcdm` (any order, repeats allowed); nil for any other character.
    public init?(letters text: String) {
        var rights: Rights = []
        for character in text {
            guard let right = Self.letters.first(where: { $0.0 == character })?.1 else { return nil }
            rights.insert(right)
        }
        self = rights
    }

    public var description: String { String(Self.letters.filter { contains($0.1) }.map(\.0)) }
}
