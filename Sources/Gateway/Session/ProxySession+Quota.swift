import NineP
import Pebble

/// The byte budget (`--quota`, the plan's `bytes_used`): one ledger of what the gateway holds for
/// a client. Each client request reserves its frame from when the gateway takes it, and the most
/// its reply may bring (a read's count) from when it goes to the server, until the reply is in; the
/// host adds what waits in the session's buffers. A request that does not fit, under the session's
/// limit or its identity's across every loop, is refused EDQUOT with a BUDGET_EXCEEDED event, and
/// nothing reaches the server (a held one, when its turn comes); a Tclunk or Tremove, which give
/// back, never is.
extension ProxySession {
    struct Quota {
        /// The session's own limit: `--quota` (or the identity's override), narrowed by the
        /// `quota` caveat of a token it attached with.
        var limit: Int
        /// The session's share of its identity's ledger, with its other sessions on every loop.
        var shared: LedgerShare?
    }

    /// What the session holds now: its requests' frames, the replies of those at the server, the
    /// bytes in its buffers, its Blue writes and the requests waiting for their commit, and the
    /// read pieces kept for a split read's answer.
    var bytesHeld: Int { tags.bytesReserved &+ tags.replyBytesExpected &+ bytesBuffered &+ blueBytes &+ splitBytes }

    /// Takes `amount` bytes for a request out of the budgets; nil when it fits, else the error.
    func admitBytes(_ amount: Int, type: MessageType) -> ProxyError? {
        guard let quota, !Self.givesBack.contains(type) else { return nil }
        guard amount <= quota.limit &- bytesHeld else {
            return .budgetExceeded(.bytes, "\(bytesHeld) bytes held by the session, \(amount) more asked (quota \(quota.limit))")
        }
        if let shared = quota.shared, !shared.reserve(amount) {
            return .budgetExceeded(.bytes, "\(shared.used) bytes held for \(shared.key), \(amount) more asked (quota \(shared.limit))")
        }
        return nil
    }

    /// Requests that release what a session holds: never refused for bytes.
    static let givesBack: Set<MessageType> = [.Tclunk, .Tremove]

    /// Brings the identity's ledger up to what the session holds now, `buffered` being the bytes
    /// in its connections' buffers (the host calls this after each batch of frames).
    func settleQuota(buffered: Int) {
        bytesBuffered = buffered
        quota?.shared?.settle(to: bytesHeld)
    }

    /// A token's `quota` caveat narrows the session's limit.
    func narrowQuota(to bytes: Int?) {
        guard access.budgets, let bytes, let limit = quota?.limit else { return }
        quota?.limit = min(limit, bytes)
    }
}
