/// What a loop runs for each connection it accepts: a 9P gateway session (`serve`), or a
/// tunnel's byte relay (`tunnel`). The loops, listeners, slots and the drain at exit are the same.
protocol LoopSession: AnyObject {
    /// Begins: arms the client connection (and whatever else the session needs).
    func start()
    /// The process is stopping: finish politely (flush, clunk, close) as soon as possible.
    func shutdown()
    /// A server process started for this session, which may outlive it for a moment (`exec:`).
    var serverProcess: ChildProcess? { get }
    /// These capability tokens were revoked (SIGHUP): a session that attached with one ends.
    func revoke(tokenIDs: Set<String>)
}

extension LoopSession {
    func revoke(tokenIDs: Set<String>) {}
}

/// Makes the session for a connection a loop accepted, on that loop's thread. `finished` is
/// called once when the session has closed everything. Throwing leaves `transport` to the caller.
typealias SessionMaker = (_ loop: EventLoop, _ client: any Transport, _ finished: @escaping (LoopSession) -> Void) throws -> LoopSession
