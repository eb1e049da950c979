import Pebble
import Synchronization

/// Ledgers by client, shared by every loop: sessions per client address or identity
/// (`--max-conns-per-client`), bytes held per identity (`--quota`). One lock, held for a few
/// arithmetic operations; a key whose ledger is back at zero is forgotten.
final class KeyedLedgers: Sendable {
    /// The limit of a key without an override, and the overrides (`client-budget`).
    let defaultLimit: Int
    let overrides: [String: Int]
    private let ledgers = Mutex<[String: Ledger]>([:])
    /// The sum of every key's use, readable without the lock (`--max-memory`, `/metrics`).
    private let sum = Atomic<Int>(0)

    init(limit: Int, overrides: [String: Int] = [:]) {
        defaultLimit = limit
        self.overrides = overrides
    }

    func limit(for key: String) -> Int { overrides[key] ?? defaultLimit }

    /// Reserves `amount` for `key` if it fits under the key's limit; false (nothing reserved) if not.
    func tryReserve(_ key: String, _ amount: Int = 1) -> Bool {
        let reserved = ledgers.withLock { ledgers in
            var ledger = ledgers[key] ?? Ledger(limit: limit(for: key))
            guard ledger.reserve(amount) else { return false }
            ledgers[key] = ledger
            return true
        }
        if reserved { sum.add(amount, ordering: .relaxed) }
        return reserved
    }

    /// Adds `amount` (which may be negative) whatever the limit: bytes already held, which a
    /// limit can no longer refuse. Never below zero.
    func charge(_ key: String, _ amount: Int) {
        guard amount != 0 else { return }
        let change = ledgers.withLock { ledgers -> Int in
            var ledger = ledgers[key] ?? Ledger(limit: limit(for: key))
            let before = ledger.used
            if amount > 0 { ledger.charge(amount) } else { ledger.release(-amount) }
            ledgers[key] = ledger.used == 0 ? nil : ledger
            return ledger.used - before
        }
        sum.add(change, ordering: .relaxed)
    }

    /// Gives back what `tryReserve` or `charge` took.
    func release(_ key: String, _ amount: Int = 1) { charge(key, -amount) }

    func used(_ key: String) -> Int { ledgers.withLock { $0[key]?.used ?? 0 } }

    /// Every key's use together.
    var total: Int { sum.load(ordering: .relaxed) }
}
