import Testing
@testable import Gateway
import NineP
import Pebble

@Suite("FidTable")
struct FidTableTests {
    @Test("a reservation is pending until committed, and live only after")
    func reserveCommit() {
        var table = FidTable()
        let backend = table.reserve(7)
        #expect(backend != NineP.noFid)
        #expect(table.lookup(7)?.state == .pending)
        #expect(table.lookup(7)?.backendFid == backend)
        #expect(table.liveBackendFids.isEmpty)
        table.commitCreated(clientFid: 7, backendFid: backend)
        #expect(table.lookup(7)?.state == .ready)
        #expect(table.liveBackendFids == [backend])
        #expect(table.count == 1)
    }

    @Test("an abandoned reservation frees its client fid and its backend fid is reused")
    func abandonReuses() {
        var table = FidTable()
        let first = table.reserve(7)
        table.abandonCreated(clientFid: 7, backendFid: first)
        #expect(table.lookup(7) == nil)
        #expect(table.liveBackendFids.isEmpty)
        let reused = table.reserve(9)
        #expect(reused == first)
    }

    @Test("a released backend fid is reused, once")
    func releaseReuses() {
        var table = FidTable()
        let a = table.reserve(1)
        table.commitCreated(clientFid: 1, backendFid: a)
        let b = table.reserve(2)
        table.commitCreated(clientFid: 2, backendFid: b)
        #expect(a != b)
        table.setState(1, .releasing)
        table.released(clientFid: 1, backendFid: a)
        // A second release of the same fid (a stray reply) must not free it twice.
        table.released(clientFid: 1, backendFid: a)
        #expect(table.lookup(1) == nil)
        #expect(table.liveBackendFids == [b])
        let c = table.reserve(3)
        let d = table.reserve(4)
        #expect(c == a)
        #expect(d != a && d != b)
    }

    @Test("backend fids are distinct while held and never NOFID")
    func distinct() {
        var table = FidTable()
        var seen: Set<UInt32> = []
        for fid in UInt32(0)..<500 {
            let backend = table.reserve(fid)
            #expect(backend != NineP.noFid)
            #expect(seen.insert(backend).inserted)
        }
    }

    @Test("a restored release makes the fid ready again")
    func restore() {
        var table = FidTable()
        let a = table.reserve(1)
        table.commitCreated(clientFid: 1, backendFid: a)
        table.setState(1, .releasing)
        table.restoreReleased(clientFid: 1, backendFid: a)
        #expect(table.lookup(1)?.state == .ready)
        #expect(table.liveBackendFids == [a])
    }

    @Test("forgetting client fids keeps backend fids live until clunked")
    func forget() {
        var table = FidTable()
        let a = table.reserve(1)
        table.commitCreated(clientFid: 1, backendFid: a)
        let pending = table.reserve(2)
        table.forgetClientFids()
        #expect(table.count == 0)
        #expect(table.liveBackendFids == [a])
        // Late replies for the forgotten client fids still settle the backend side.
        table.commitCreated(clientFid: 2, backendFid: pending)
        #expect(table.lookup(2) == nil)
        #expect(table.liveBackendFids == [a, pending])
        table.released(clientFid: nil, backendFid: a)
        table.released(clientFid: nil, backendFid: pending)
        #expect(table.liveBackendFids.isEmpty)
    }
}
