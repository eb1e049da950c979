/// The three 9P dialects the gateway speaks. The version string a client sends decides which one a
/// session uses; the codec needs it because Tattach, Tauth, Tcreate, Rerror and stat differ.
public enum Dialect: String, Sendable, CaseIterable, Hashable, CustomStringConvertible {
    /// Plain 9P2000 (Plan 9, 9front, python-9p).
    case plan9 = "9P2000"
    /// 9P2000.u: Unix extensions (numeric ids, errno in Rerror, extension strings).
    case unix = "9P2000.u"
    /// 9P2000.L: the Linux dialect (diod, v9fs, QEMU).
    case linux = "9P2000.L"

    /// The dialect named by a Tversion string, or nil when the gateway cannot speak it.
    /// Per the spec, anything after a period that we do not know is ignored ("9P2000.x" → 9P2000).
    public init?(version: WireString) {
        guard let version = version.string else { return nil }
        if let exact = Dialect(rawValue: version) { self = exact; return }
        guard version.hasPrefix("9P2000") else { return nil }
        let rest = version.dropFirst("9P2000".count)
        guard rest.isEmpty || rest.first == "." else { return nil }
        self = .plan9
    }

    public var description: String { rawValue }

    /// The version string as Tversion/Rversion carry it.
    public var version: WireString { WireString(rawValue) }

    /// Whether errors carry a numeric errno (Rerror with errno in .u, Rlerror in .L).
    public var hasErrno: Bool { self != .plan9 }

    /// Whether Tauth/Tattach carry n_uname and stat/Rerror carry the .u extensions.
    public var hasUnixExtensions: Bool { self != .plan9 }
}
