/// A security event, as the audit log writes it (one JSON line each): the session adds when, which
/// session, the peer and the identity. Never carries a whole token: its id names it.
public struct AuditEvent: Sendable, Equatable {
    /// The plan's P9SEC event types (those used so far) and the token's own.
    public enum Kind: String, Sendable, CaseIterable {
        /// A request would pass one of the session's budgets (fids, …): refused, the session goes on.
        case budgetExceeded = "BUDGET_EXCEEDED"
        /// A token presented at attach was forged or tampered with (bad tag, unparseable).
        case invalidCapability = "INVALID_CAPABILITY"
        /// A fid never issued, or used after clunk.
        case staleFidAccess = "STALE_FID_ACCESS"
        /// A token that is genuine but refused (expired, revoked, wrong client, unknown caveat), or none where one is required.
        case tokenRejected = "TOKEN_REJECTED"
        /// A request the fid's rights do not allow.
        case permissionDenied = "PERMISSION_DENIED"
        /// A name or a symlink that would leave the capability's subtree.
        case confinementBlocked = "CONFINEMENT_BLOCKED"
        /// Writes held by the gateway (Blue) were dropped, never reaching the server: the client
        /// went away, reset the session or removed the file before committing them.
        case partialWriteRollback = "PARTIAL_WRITE_ROLLBACK"
    }

    /// Which budget a BUDGET_EXCEEDED event is about.
    public enum Budget: String, Sendable, CaseIterable {
        case fids, bytes, connections, requests
    }

    public var kind: Kind
    /// For BUDGET_EXCEEDED: which budget.
    public var budget: Budget?
    public var tokenID: String?
    /// The client's fid the request named, and where it is below the capability root.
    public var fid: UInt32?
    public var path: String?
    public var detail: String
    /// False for a refusal repeated past what the log keeps (`/metrics` still counts it).
    public var logged = true

    public init(kind: Kind, budget: Budget? = nil, tokenID: String? = nil, fid: UInt32? = nil, path: String? = nil, detail: String) {
        self.kind = kind
        self.budget = budget
        self.tokenID = tokenID
        self.fid = fid
        self.path = path
        self.detail = detail
    }
}
