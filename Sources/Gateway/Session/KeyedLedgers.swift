import Pebble
import Synchronization

/// Ledgers by client, shared by every loop: sessions per client address or identity
/// (`--max-conns-per-client`), bytes held per identity (`--quota`). Each key's ledger has a lock
/// of its own, and its sessions hold a reference to it (a `LedgerShare`): a request takes that lock
/// for a few arithmetic operations, and no dictionary lookup. The table's lock is taken only when
/// a session starts or ends; a key is forgotten when its last share goes.
final class KeyedLedgers: Sendable {
    /// The limit of a key without an override, and the overrides (`client-budget`).
    let defaultLimit: Int
    let overrides: [String: Int]
    private let table = Mutex<[String: (ledger: KeyLedger, shares: Int)]>([:])
    /// The sum of every key's use, readable without a lock (`--max-memory`, `/metrics`).
    fileprivate let sum = Atomic<Int>(0)

    init(limit: Int, overrides: [String: Int] = [:]) {
        defaultLimit = limit
        self.overrides = overrides
    }

    func limit(for key: String) -> Int { overrides[key] ?? defaultLimit }

    /// A session's share of `key`'s ledger, the ledger made on first use.
    func share(_ key: String) -> LedgerShare {
        let ledger = table.withLock { table -> KeyLedger in
            if var entry = table[key] {
                entry.shares += 1
                table[key] = entry
                return entry.ledger
            }
            let ledger = KeyLedger(limit: limit(for: key))
            table[key] = (ledger, 1)
            return ledger
        }
        return LedgerShare(key: key, ledger: ledger, owner: self)
    }

    /// A share is gone (having given back all it posted); the last one takes its key's ledger.
    fileprivate func leave(_ key: String) {
        table.withLock { table in
            guard var entry = table[key] else { return }
            entry.shares -= 1
            table[key] = entry.shares > 0 ? entry : nil
        }
    }

    /// What `key`'s sessions hold together now.
    func used(_ key: String) -> Int { table.withLock { $0[key]?.ledger }?.used ?? 0 }

    /// Every key's use together.
    var total: Int { sum.load(ordering: .relaxed) }
}

/// One key's ledger, shared by its sessions on every loop.
final class KeyLedger: Sendable {
    let limit: Int
    let ledger: Mutex<Ledger>
    init(limit: Int) {
        self.limit = limit
        ledger = Mutex(Ledger(limit: limit))
    }
    var used: Int { ledger.withLock { $0.used } }
}

/// One session's part of a key's ledger (used on the session's loop only): what it has posted,
/// all given back when the share is dropped.
final class LedgerShare {
    let key: String
    private let ledger: KeyLedger
    private let owner: KeyedLedgers
    /// What this session has posted to the key's ledger.
    private(set) var posted = 0

    fileprivate init(key: String, ledger: KeyLedger, owner: KeyedLedgers) {
        self.key = key
        self.ledger = ledger
        self.owner = owner
    }

    deinit {
        settle(to: 0)
        owner.leave(key)
    }

    var limit: Int { ledger.limit }
    /// What the key's sessions hold together now.
    var used: Int { ledger.used }

    /// Posts `amount` more if the key's total stays within its limit; false (nothing posted) if not.
    func reserve(_ amount: Int = 1) -> Bool {
        guard ledger.ledger.withLock({ $0.reserve(amount) }) else { return false }
        posted &+= amount
        owner.sum.add(amount, ordering: .relaxed)
        return true
    }

    /// Brings what this session has posted to `holds`, whatever the limit: it is already held,
    /// which a limit can no longer refuse.
    func settle(to holds: Int) {
        let change = holds &- posted
        guard change != 0 else { return }
        ledger.ledger.withLock { change > 0 ? $0.charge(change) : $0.release(-change) }
        posted = holds
        owner.sum.add(change, ordering: .relaxed)
    }
}
