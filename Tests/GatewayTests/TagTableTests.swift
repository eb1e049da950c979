import Testing
@testable import Gateway
import NineP

@Suite("TagTable")
struct TagTableTests {
    func request(clientTag: UInt16? = nil, serial: UInt64 = 1) -> PendingRequest {
        let origin: PendingRequest.Origin = clientTag.map { .client(tag: $0) } ?? .gateway
        return PendingRequest(origin: origin, type: .Tgetattr, serial: serial)
    }

    @Test("client tags map to backend tags until the reply completes them")
    func clientMapping() throws {
        var table = TagTable()
        let added = table.add(request(clientTag: 42))
        let tag = try #require(added)
        #expect(table.isClientTagInUse(42))
        #expect(table.backendTag(forClientTag: 42) == tag)
        #expect(table.clientOutstanding == 1)
        let completed = table.complete(tag)
        let done = try #require(completed)
        #expect(done.origin == .client(tag: 42))
        #expect(!table.isClientTagInUse(42))
        let again = table.complete(tag)
        #expect(again == nil, "a second reply to the same tag is unknown")
        #expect(table.outstanding == 0)
    }

    @Test("gateway requests use backend tags but no client tag")
    func gatewayRequests() throws {
        var table = TagTable()
        let tag = table.add(request())
        #expect(tag != nil)
        #expect(table.outstanding == 1)
        #expect(table.clientOutstanding == 0)
    }

    @Test("allocation skips NOTAG and tags still in use")
    func skipsNotagAndInUse() throws {
        var table = TagTable()
        let held = table.add(request())
        #expect(held == 0)
        // Run the counter round to NOTAG, completing each tag at once.
        for expected in UInt16(1)..<NineP.noTag {
            let added = table.add(request())
            let tag = try #require(added)
            #expect(tag == expected)
            _ = table.complete(tag)
        }
        // Next would be NOTAG, then 0 (still held): both are skipped.
        let next = table.add(request())
        #expect(next == 1)
        #expect(table.request(0) != nil)
    }

    @Test("when every tag is in use, add fails instead of looping")
    func exhaustion() throws {
        var table = TagTable()
        var tags: Set<UInt16> = []
        for _ in 0..<Int(NineP.noTag) {
            let added = table.add(request())
            tags.insert(try #require(added))
        }
        #expect(tags.count == Int(NineP.noTag))
        #expect(!tags.contains(NineP.noTag))
        let refused = table.add(request())
        #expect(refused == nil)
        _ = table.complete(1234)
        let reused = table.add(request())
        #expect(reused == 1234)
    }

    @Test("the version request takes NOTAG, once")
    func version() {
        var table = TagTable()
        let first = table.addVersion(request())
        let second = table.addVersion(request())
        #expect(first)
        #expect(!second)
        #expect(table.request(NineP.noTag) != nil)
        let done = table.complete(NineP.noTag)
        #expect(done != nil)
    }

    @Test("abandonAll marks every request and frees every client tag")
    func abandonAll() throws {
        var table = TagTable()
        let addedA = table.add(request(clientTag: 1))
        let addedB = table.add(request(clientTag: 2))
        let a = try #require(addedA)
        let b = try #require(addedB)
        table.abandonAll()
        #expect(table.clientOutstanding == 0)
        #expect(table.request(a)?.abandoned == true)
        #expect(table.request(b)?.abandoned == true)
        #expect(table.outstanding == 2)
    }

    @Test("serials are unique")
    func serials() {
        var table = TagTable()
        let serials = (0..<100).map { _ in table.makeSerial() }
        #expect(Set(serials).count == 100)
    }
}
