import Foundation
import NineP

/// Why the gateway answered a request itself instead of forwarding it. Each carries the errno a
/// .u/.L client expects and the text a 9P2000 client sees.
///
/// The texts are ones Linux's v9fs maps back to the errno (net/9p/error.c matches the whole
/// string; any other text becomes ESERVERFAULT and a kernel log line), and read well on Plan 9.
/// What exactly went wrong goes in `detail`, for the gateway's log.
public struct ProxyError: Error, Equatable, Sendable, CustomStringConvertible {
    public let errno: UInt32
    public let message: String
    public var detail: String? = nil
    /// The audit event a refusal with this error is, if it is a security event.
    public var event: AuditEvent.Kind? = nil
    /// The token a refusal concerns (its id, for the audit log).
    public var tokenID: String? = nil
    /// For a budget refusal: which budget.
    public var budget: AuditEvent.Budget? = nil

    public init(errno: UInt32, message: String, detail: String? = nil, event: AuditEvent.Kind? = nil) {
        self.errno = errno
        self.message = message
        self.detail = detail
        self.event = event
    }

    public var description: String { "\(detail ?? message) (errno \(errno))" }

    public static let unknownFid = ProxyError(errno: 9, message: "fid unknown or out of range", detail: "unknown fid", event: .staleFidAccess) // EBADF
    public static let fidInUse = ProxyError(errno: 9, message: "fid already in use", detail: "duplicate fid")              // EBADF
    public static let fidKind = ProxyError(errno: 9, message: "bad use of fid", detail: "request not allowed on this kind of fid (open, xattr, auth)") // EBADF
    public static let notAuthFid = ProxyError(errno: 9, message: "bad use of fid", detail: "Tattach's afid is not an auth fid") // EBADF
    public static let authRemove = ProxyError(errno: 1, message: "Operation not permitted", detail: "Tremove of an auth fid (clunked instead)") // EPERM
    public static let xattrOffset = ProxyError(errno: 22, message: "Invalid argument", detail: "write past the size Txattrcreate gave") // EINVAL
    public static let fidBusy = ProxyError(errno: 16, message: "Device or resource busy", detail: "fid in use by another request") // EBUSY
    public static let tagInUse = ProxyError(errno: 16, message: "Device or resource busy", detail: "duplicate tag")       // EBUSY
    public static let notNegotiated = ProxyError(errno: 71, message: "Protocol error", detail: "version not negotiated") // EPROTO
    /// A budget would be exceeded: the request is refused, the session goes on within it.
    public static func budgetExceeded(_ budget: AuditEvent.Budget, _ what: String) -> ProxyError {
        var error = ProxyError(errno: 122, message: "Disk quota exceeded", detail: "budget exceeded: \(what)", event: .budgetExceeded) // EDQUOT
        error.budget = budget
        return error
    }
    public static let backendGone = ProxyError(errno: 5, message: "Input/output error", detail: "file server unavailable") // EIO
    public static let backendTimeout = ProxyError(errno: 5, message: "Input/output error", detail: "the file server did not answer within backend-timeout") // EIO
    public static let badBackendReply = ProxyError(errno: 5, message: "Input/output error", detail: "file server sent a malformed reply") // EIO
    public static let tooManyRequests = ProxyError(errno: 11, message: "Resource temporarily unavailable", detail: "too many requests in flight") // EAGAIN

    public static let permissionDenied = ProxyError(errno: 13, message: "Permission denied", detail: "not granted by the capability", event: .permissionDenied) // EACCES
    public static let badName = ProxyError(errno: 22, message: "Invalid argument", detail: "a name with / or NUL, empty, . or ..", event: .confinementBlocked) // EINVAL
    public static let throughSymlink = ProxyError(errno: 40, message: "Too many levels of symbolic links", detail: "the server would follow a symlink", event: .confinementBlocked) // ELOOP
    /// A walk to a name of the gateway's own temporaries (`BlueTemporary`), which clients never see.
    public static let hiddenTemporary = ProxyError(errno: 2, message: "No such file or directory", detail: "a Blue temporary (hidden)") // ENOENT
    /// A request that would make, move or name a file with a temporary's name.
    public static let reservedName = ProxyError(errno: 13, message: "Permission denied", detail: "a name the gateway reserves for its temporaries") // EACCES
    public static let tokenRequired = ProxyError(errno: 13, message: "Permission denied", detail: "a capability token is required", event: .tokenRejected) // EACCES

    /// A token presented at attach that grants nothing.
    public static func tokenRejected(_ error: TokenError) -> ProxyError {
        ProxyError(errno: 13, message: "Permission denied", detail: "token rejected: \(error)",
                   event: error.isForgery ? .invalidCapability : .tokenRejected)
    }

    /// A type outside the session's dialect, or one a client may not send.
    public static func unsupported(_ type: UInt8) -> ProxyError {
        ProxyError(errno: 95, message: "Operation not supported", detail: "operation not supported (type \(type))") // EOPNOTSUPP
    }

    public static func malformed(_ error: WireError) -> ProxyError {
        ProxyError(errno: 71, message: "Protocol error", detail: "malformed message: \(error)")                     // EPROTO
    }

    /// An error reply from the server in a form the session's client cannot read (Rerror to a .L
    /// client, Rlerror to a 9P2000/.u client, a 9P2000 Rerror with a stray .u errno), as a
    /// `ProxyError` to re-encode; nil when the reply is not an error or already has the client's form.
    public static func foreignError(_ frame: UnsafeRawBufferPointer, dialect: Dialect) -> ProxyError? {
        guard let header = FrameHeader.peek(frame) else { return nil }
        var reader = WireReader(frame, position: FrameHeader.byteCount)
        switch (header.messageType, dialect) {
        case (.Rerror, .linux):
            let message = (try? reader.string())?.description ?? "error"
            return ProxyError(errno: (try? reader.u32()) ?? backendGone.errno, message: message)
        case (.Rerror, .plan9):
            // Some 9P2000 servers (aio9p) append a .u errno; a strict client rejects the extra bytes.
            guard let message = try? reader.string(), reader.remaining > 0 else { return nil }
            return ProxyError(errno: backendGone.errno, message: message.description)
        case (.Rlerror, .plan9), (.Rlerror, .unix):
            let errno = (try? reader.u32()) ?? backendGone.errno
            return ProxyError(errno: errno, message: String(cString: strerror(Int32(truncatingIfNeeded: errno))))
        default:
            return nil
        }
    }

    /// A server's error reply (Rlerror, Rerror), to pass on in the client's form; nil for any other reply.
    public static func serverError(_ reply: RMessage) -> ProxyError? {
        switch reply {
        case let .lerror(error):
            ProxyError(errno: error.ecode, message: String(cString: strerror(Int32(truncatingIfNeeded: error.ecode))))
        case let .error(error):
            ProxyError(errno: error.errno ?? backendGone.errno, message: error.ename.description)
        default:
            nil
        }
    }

    /// The one place an error becomes a reply, in the session's dialect:
    /// Rlerror (9P2000.L), Rerror with errno (9P2000.u), Rerror (9P2000).
    public func reply(tag: UInt16, dialect: Dialect) -> [UInt8] {
        let message: RMessage = switch dialect {
        case .linux: .lerror(Rlerror(ecode: errno))
        case .unix: .error(Rerror(ename: WireString(message), errno: errno))
        case .plan9: .error(Rerror(ename: WireString(message)))
        }
        return Frame(tag: tag, message: message).encode(dialect: dialect)
    }
}
