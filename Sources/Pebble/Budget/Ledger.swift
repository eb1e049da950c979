/// What one budget has given out against its limit (the plan's `bytes_used`, or live fids): every
/// reservation is released exactly once, so the ledger returns to zero when a session is done.
public struct Ledger: Sendable, Equatable {
    public let limit: Int
    public private(set) var used = 0

    public init(limit: Int) { self.limit = limit }

    public var available: Int { max(0, limit - used) }

    /// Reserves `amount` if it fits; false (and nothing reserved) when it would pass the limit.
    public mutating func reserve(_ amount: Int) -> Bool {
        guard amount >= 0, amount <= limit - used else { return false }
        used += amount
        return true
    }

    /// Adds `amount` whatever the limit: what is already held, which the limit can no longer refuse.
    public mutating func charge(_ amount: Int) {
        used += max(0, amount)
    }

    /// Gives back what a reservation took (never below zero).
    public mutating func release(_ amount: Int) {
        used = max(0, used - max(0, amount))
    }
}
