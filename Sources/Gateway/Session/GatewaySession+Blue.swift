import Logging
import Pebble

/// The host side of Blue writes (`ProxySession+Blue`): its metrics, its log lines, and the
/// process-wide list of temporaries a session could not remove (`OrphanedTemporaries`).
extension GatewaySession {
    func blueCounted(_ counter: ProxySession.BlueCounter) {
        let metrics = settings.metrics
        switch counter {
        case .heldWrite: metrics.speculativeOperations.add(1)
        case .commit: metrics.blueCommits.add(1)
        case .commitFailed: metrics.blueCommitFailures.add(1)
        case .rollback: metrics.blueRollbacks.add(1)
        case .writeThrough: metrics.blueWriteThrough.add(1)
        case .atomicReplace: metrics.blueAtomicReplaces.add(1)
        case .staleTemporaryRemoved: metrics.blueStaleTemporaries.add(1)
        case .spilled: metrics.blueSpills.add(1)
        }
    }

    func temporaryOrphaned(_ name: String) { OrphanedTemporaries.shared.add(name) }
    func isOrphanedTemporary(_ name: String) -> Bool { OrphanedTemporaries.shared.contains(name) }
    func temporaryRemoved(_ name: String) { OrphanedTemporaries.shared.remove(name) }

    func blueNote(_ text: String, path: String) {
        logger.info("\(text)", metadata: ["path": "\(path)"])
    }

    func blueCommitFailed(_ error: ProxyError, bytes: Int) {
        logger.warning("commit of held writes failed", metadata: ["bytes": "\(bytes)", "error": "\(error.message)"])
    }
}
