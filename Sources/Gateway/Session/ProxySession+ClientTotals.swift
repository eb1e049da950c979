import NineP
import Pebble

/// An identity's fids, and requests taken and not yet answered, over all its sessions on every
/// loop (`--max-fids-per-client`, `--max-requests-per-client`). A request takes what it needs of
/// each when the gateway takes it; past either limit it is refused EDQUOT with a BUDGET_EXCEEDED
/// event and nothing reaches the server. After each batch of frames the session's shares are
/// brought to what it holds (the fids in its table, the client requests registered), which gives
/// back what replies, clunks and refusals released.
extension ProxySession {
    struct ClientTotals {
        var fids: LedgerShare?
        var requests: LedgerShare?
    }

    /// Takes a request, and a fid if it makes one, out of the identity's totals; nil when they
    /// fit, else the error (what was taken is given back by `settleTotals`).
    func admitToTotals(createsFid: Bool, type: MessageType) -> ProxyError? {
        guard !Self.givesBack.contains(type) else { return nil }
        if let share = clientTotals.requests, !share.reserve() {
            return .budgetExceeded(.requests, "\(share.used) requests of \(share.key) not yet answered (max-requests-per-client \(share.limit))")
        }
        if createsFid, let share = clientTotals.fids, !share.reserve() {
            return .budgetExceeded(.fids, "\(share.used) fids held by \(share.key) (max-fids-per-client \(share.limit))")
        }
        return nil
    }

    /// Whether a request with these operands makes a new client fid (not one replaced in place,
    /// as a Twalk with newfid == fid does). Asked only when fids per identity are counted.
    static func createsFid(_ operands: [RequestPolicy.Operand]) -> Bool {
        operands.contains { made in
            made.location.role == .created && !operands.contains { $0.location.role != .created && $0.clientFid == made.clientFid }
        }
    }

    /// Brings the identity's totals to what the session holds now.
    func settleTotals() {
        clientTotals.requests?.settle(to: tags.clientOutstanding &+ splitOfClientTag.count)
        clientTotals.fids?.settle(to: fids.count)
    }

    /// Brings every identity-wide budget up to date after a batch of frames, `buffered` being the
    /// bytes in the session's connections' buffers.
    func settleBudgets(buffered: Int) {
        settleQuota(buffered: buffered)
        settleTotals()
    }
}
