#if canImport(Glibc)
import Glibc
#endif

/// Files named by GLOBs, where the gateway must not be clever: whose writes never wait
/// (`--write-through`: a server's control files, logs that others follow), or which are never read
/// ahead (`--no-read-ahead`: files whose reads have effects). A GLOB with a `/` is matched against
/// the file's whole path below the attach point (`/ctl`, `/logs/*.log`); one without, against its
/// name in any directory (`ctl`, `*.log`). `*` and `?` do not match `/` (fnmatch's FNM_PATHNAME).
public struct PathGlobRule: Sendable, Equatable {
    public let globs: [String]

    public init(globs: [String]) { self.globs = globs }

    public func matches(_ path: CapabilityPath) -> Bool {
        guard !globs.isEmpty else { return false }
        let whole = path.description, name = path.names.last ?? ""
        return globs.contains { glob in
            fnmatch(glob, glob.contains("/") ? whole : name, FNM_PATHNAME) == 0
        }
    }
}
