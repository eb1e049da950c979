import NineP
import Pebble

/// The client's fids and the backend fids behind them. The backend fid numbers are the gateway's
/// own, so a client can only ever name fids it holds, and the gateway knows every backend fid
/// that must be clunked when the session ends.
struct FidTable {
    private(set) var clientFids: [UInt32: ClientFid] = [:]
    /// Backend fids that exist on the backend right now (created and not yet clunked).
    private(set) var liveBackendFids: Set<UInt32> = []
    private var freeBackendFids: [UInt32] = []
    private var nextBackendFid: UInt32 = 1
    /// How many outstanding requests name each backend fid. A server knows a fid only by its
    /// number: if the number were handed out again while a request that named the old fid is still
    /// at the server (a Tread racing the Tclunk of its fid), the server could apply that request to
    /// the new fid, which may stand for another client fid.
    private var uses: [UInt32: Int] = [:]
    /// Released numbers that wait for their last outstanding use to end before they are reused.
    private var retired: Set<UInt32> = []

    var count: Int { clientFids.count }

    func lookup(_ fid: UInt32) -> ClientFid? { clientFids[fid] }

    /// A backend fid number nobody uses; NOFID is never handed out.
    mutating func allocateBackendFid() -> UInt32 {
        if let reused = freeBackendFids.popLast() { return reused }
        let fid = nextBackendFid
        nextBackendFid &+= 1
        if nextBackendFid == NineP.noFid { nextBackendFid = 1 }
        return fid
    }

    /// Reserves `clientFid` for a request in flight that would create it.
    mutating func reserve(_ clientFid: UInt32) -> UInt32 {
        let backendFid = allocateBackendFid()
        clientFids[clientFid] = ClientFid(backendFid: backendFid, state: .pending)
        return backendFid
    }

    mutating func setState(_ clientFid: UInt32, _ state: ClientFid.State) {
        clientFids[clientFid]?.state = state
    }

    /// What a request that succeeded made of the fid (its kind, an attribute's size, a directory
    /// it opened): applied only while `clientFid` still stands for `backendFid`.
    mutating func describe(clientFid: UInt32, backendFid: UInt32, _ change: (inout ClientFid) -> Void) {
        guard var record = clientFids[clientFid], record.backendFid == backendFid else { return }
        change(&record)
        clientFids[clientFid] = record
    }

    /// The client fid's file is now behind another backend fid (Blue's atomic replace: the new
    /// file took the old one's name). The old number stays live until the gateway clunks it.
    mutating func rebind(clientFid: UInt32, from old: UInt32, to new: UInt32) {
        guard clientFids[clientFid]?.backendFid == old else { return }
        clientFids[clientFid]?.backendFid = new
    }

    /// A reservation's request succeeded: the backend fid now exists.
    mutating func commitCreated(clientFid: UInt32?, backendFid: UInt32) {
        liveBackendFids.insert(backendFid)
        if let clientFid, clientFids[clientFid]?.backendFid == backendFid {
            clientFids[clientFid]?.state = .ready
        }
    }

    /// A reservation's request got a malformed reply: whether the server created the fid is
    /// unknown, so the client does not get it, and the backend fid counts as live (clunked when
    /// the session ends, its number never handed out meanwhile).
    mutating func orphanCreated(clientFid: UInt32?, backendFid: UInt32) {
        liveBackendFids.insert(backendFid)
        if let clientFid, clientFids[clientFid]?.backendFid == backendFid {
            clientFids[clientFid] = nil
        }
    }

    /// The client loses a fid whose meaning at the server is unknown; its backend fid stays live.
    /// (Unless the client number already stands for another backend fid: released and reused.)
    mutating func orphan(clientFid: UInt32, backendFid: UInt32) {
        if clientFids[clientFid]?.backendFid == backendFid { clientFids[clientFid] = nil }
    }

    /// A reservation's request failed (or was flushed): the backend fid never existed.
    mutating func abandonCreated(clientFid: UInt32?, backendFid: UInt32) {
        if let clientFid, clientFids[clientFid]?.backendFid == backendFid {
            clientFids[clientFid] = nil
        }
        recycle(backendFid)
    }

    /// The backend fid was clunked (Rclunk, Rremove, or either's error: the fid is gone regardless).
    mutating func released(clientFid: UInt32?, backendFid: UInt32) {
        if let clientFid, clientFids[clientFid]?.backendFid == backendFid {
            clientFids[clientFid] = nil
        }
        if liveBackendFids.remove(backendFid) != nil {
            recycle(backendFid)
        }
    }

    /// How many outstanding requests name this backend fid.
    func useCount(_ backendFid: UInt32) -> Int { uses[backendFid] ?? 0 }

    /// A request naming these backend fids went to the server.
    mutating func beginUse(_ backendFids: [UInt32]) {
        for backendFid in backendFids { uses[backendFid, default: 0] += 1 }
    }

    /// A request that named these backend fids is done (answered, or flushed before it was).
    mutating func endUse(_ backendFids: [UInt32]) {
        for backendFid in backendFids {
            guard let count = uses[backendFid] else { continue }
            if count > 1 {
                uses[backendFid] = count - 1
                continue
            }
            uses[backendFid] = nil
            if retired.remove(backendFid) != nil { freeBackendFids.append(backendFid) }
        }
    }

    /// Makes a number that no longer stands for a fid available again, once nothing outstanding names it.
    private mutating func recycle(_ backendFid: UInt32) {
        if uses[backendFid] != nil {
            retired.insert(backendFid)
        } else {
            freeBackendFids.append(backendFid)
        }
    }

    /// A release that was flushed before the server acted on it: the fid is usable again.
    mutating func restoreReleased(clientFid: UInt32, backendFid: UInt32) {
        if clientFids[clientFid]?.backendFid == backendFid {
            clientFids[clientFid]?.state = .ready
        }
    }

    /// A fid the gateway answers for itself (`ClientFid.Kind.gatewayValue`): no backend fid behind it.
    mutating func addValue(clientFid: UInt32, value: [UInt8]) {
        var record = ClientFid(backendFid: NineP.noFid, state: .ready)
        record.kind = .gatewayValue
        record.value = value
        clientFids[clientFid] = record
    }

    /// An auth fid the gateway answers for itself: the client writes its token there.
    mutating func addGatewayAuth(clientFid: UInt32) {
        var record = ClientFid(backendFid: NineP.noFid, state: .ready)
        record.kind = .auth
        record.value = []
        clientFids[clientFid] = record
    }

    /// Replaces bytes of a gateway-held value (a token being written to a gateway auth fid).
    mutating func storeValue(clientFid: UInt32, _ data: UnsafeRawBufferPointer, at offset: Int) {
        guard var record = clientFids[clientFid], record.backendFid == NineP.noFid else { return }
        var value = record.value ?? []
        if value.count < offset { value += [UInt8](repeating: 0, count: offset - value.count) }
        value.replaceSubrange(offset..<min(value.count, offset + data.count), with: data)
        record.value = value
        clientFids[clientFid] = record
    }

    /// Forgets a fid the gateway holds itself (no backend fid behind it).
    mutating func forgetValue(clientFid: UInt32) {
        if clientFids[clientFid]?.backendFid == NineP.noFid { clientFids[clientFid] = nil }
    }

    /// Forgets every client fid (session reset or client gone). Backend fids stay live until the
    /// gateway clunks them.
    mutating func forgetClientFids() {
        clientFids.removeAll(keepingCapacity: false)
    }
}
