import Testing
@testable import Gateway
import NineP
import Pebble

/// Blue on 9P2000.u: a file opened with OTRUNC (its truncation held) or made by Tcreate is
/// replaced whole at the commit, through a temporary renamed by Twstat, against `ModelFileServer`
/// in its .u form; servers that refuse the rename or ignore a Twstat's length; temporaries left
/// out of directory reads, whose offsets the client then sees without them.
@Suite("Blue writes on a 9P2000.u session")
struct BluePlan9Tests {
    static let truncate: UInt8 = 0x10

    /// A .u session with Blue on, the root (fid 1) kept, fid 2 on "f" (content "old") opened with
    /// `mode`, a crash's stale temporary beside it, and "new" written and held.
    static func replacing(mode: UInt8 = 1 | truncate, content: String = "old") throws -> (SessionHarness, ModelFileServer, UInt32) {
        var access = ProxySession.Access()
        access.blue = .init()
        let harness = SessionHarness(access: access)
        try harness.negotiate(.unix)
        let root = try harness.attach(fid: 1)
        let backendFid = try harness.walk(fid: 1, newfid: 2, names: ["f"])
        let open = try harness.forward(tag: 3, .open(Topen(fid: 2, mode: mode)))
        #expect(open.message == .open(Topen(fid: backendFid, mode: mode & ~truncate)), "OTRUNC is held, not sent")
        harness.backendSends(tag: open.tag, .open(Ropen(qid: SessionHarness.fileQid, iounit: 0)))
        _ = try harness.clientReceived()
        let files = ModelFileServer(root: root, dialect: .unix)
        files.addFile("f", content: Array(content.utf8), fid: backendFid)
        files.addFile(BlueTemporary.name(1), content: Array("ol".utf8), fid: 900)
        #expect(try harness.answeredLocally(tag: 10, .write(Twrite(fid: 2, offset: 0, data: Array("new".utf8))))
            == [Frame(tag: 10, message: .write(Rwrite(count: 3)))])
        return (harness, files, backendFid)
    }

    @Test("atomic replace on 9P2000.u: the commit of a file opened with OTRUNC writes a temporary made by Tcreate and renames it over the file by Twstat; the file is the old content or the new at every step; the client fid moves to the new file; a crash's stale temporary in the directory is removed")
    func atomicReplace() throws {
        let (harness, files, backendFid) = try Self.replacing()
        harness.clientSends(tag: 12, .clunk(Tclunk(fid: 2)))
        try files.serve(harness) {
            #expect(files.content("f") == Array("old".utf8) || files.content("f") == Array("new".utf8))
        }
        #expect(try harness.clientReceived() == [Frame(tag: 12, message: .clunk(Rclunk()))])
        #expect(files.content("f") == Array("new".utf8) && files.names.keys.sorted() == ["f"], "the stale temporary is gone")
        #expect(files.seen.filter { [.Tcreate, .Twrite, .Topen, .Tremove].contains($0) } == [.Tcreate, .Twrite, .Topen, .Topen, .Tremove],
                "the temporary made, written, the new file opened for the client fid, the directory listed, the leftover removed")
        #expect(harness.host.blueCounts.filter { $0 != .heldWrite } == [.atomicReplace, .commit, .staleTemporaryRemoved])
        let root = try #require(harness.session.fids.lookup(1)).backendFid
        #expect(harness.session.blue.isEmpty && harness.session.fids.liveBackendFids == [root],
                "every fid the gateway made is clunked, and so is the old file's \(backendFid)")
    }

    @Test("a Tfsync's replace leaves the client fid on the new file, opened: its reads go there")
    func replaceAtFsync() throws {
        let (harness, files, backendFid) = try Self.replacing(mode: 1 | Self.truncate)
        harness.clientSends(tag: 12, .wstat(Twstat(fid: 2, stat: .unchanged())))
        try files.serve(harness)
        #expect(try harness.clientReceived() == [Frame(tag: 12, message: .wstat(Rwstat()))])
        let moved = try #require(harness.session.fids.lookup(2)).backendFid
        #expect(moved != backendFid && files.content("f") == Array("new".utf8))
        #expect(files.answer(.write(Twrite(fid: moved, offset: 3, data: Array("er".utf8)))) == .write(Rwrite(count: 2)))
        #expect(files.content("f") == Array("newer".utf8), "the client fid's backend fid stands for the file by its name now")
    }

    @Test("a server that will not rename onto a name in use (as Plan 9's): the temporary is removed and the commit applies in place (the length, checked, then the writes); the session's next commits do not try again")
    func renameRefused() throws {
        let (harness, files, _) = try Self.replacing()
        files.refusesRenameOver = true
        harness.clientSends(tag: 12, .clunk(Tclunk(fid: 2)))
        try files.serve(harness)
        #expect(try harness.clientReceived() == [Frame(tag: 12, message: .clunk(Rclunk()))])
        #expect(files.content("f") == Array("new".utf8))
        #expect(files.names.keys.sorted() == [BlueTemporary.name(1), "f"], "only the commit's own temporary is gone")
        #expect(harness.host.blueNotes.contains { $0.contains("refused to rename the temporary over the file") })
        let before = files.seen.filter { $0 == .Tcreate }.count
        let again = try harness.walk(fid: 1, newfid: 3, names: ["f"], tag: 13)
        let open = try harness.forward(tag: 14, .open(Topen(fid: 3, mode: 1 | Self.truncate)))
        harness.backendSends(tag: open.tag, .open(Ropen(qid: SessionHarness.fileQid, iounit: 0)))
        _ = try harness.clientReceived()
        _ = try harness.answeredLocally(tag: 15, .write(Twrite(fid: 3, offset: 0, data: Array("x".utf8))))
        _ = files.answer(.walk(Twalk(fid: try #require(harness.session.fids.lookup(1)).backendFid, newfid: again, wnames: ["f"])))
        harness.clientSends(tag: 16, .clunk(Tclunk(fid: 3)))
        try files.serve(harness)
        #expect(try harness.clientReceived() == [Frame(tag: 16, message: .clunk(Rclunk()))])
        #expect(files.content("f") == Array("x".utf8) && files.seen.filter { $0 == .Tcreate }.count == before)
    }

    @Test("a server that answers a Twstat of the length without making it (as py9p's) and will not rename: the commit fails before anything is written, the file keeps its old content, the clunk gets the error")
    func lengthIgnored() throws {
        let (harness, files, _) = try Self.replacing()
        (files.refusesRenameOver, files.ignoresWstatLength) = (true, true)
        harness.clientSends(tag: 12, .clunk(Tclunk(fid: 2)))
        try files.serve(harness)
        let reply = try #require(try harness.clientReceived().first)
        #expect(reply.tag == 12 && reply.message.error?.errno == 5)
        #expect(files.content("f") == Array("old".utf8))
    }

    @Test("a server whose rename leaves the temporary's name standing (as aio9p's): the commit applies in place, the temporary is removed, and the session stops trying")
    func renameThatIsNot() throws {
        let (harness, files, _) = try Self.replacing()
        files.renamesStatOnly = true
        harness.clientSends(tag: 12, .clunk(Tclunk(fid: 2)))
        try files.serve(harness)
        #expect(try harness.clientReceived() == [Frame(tag: 12, message: .clunk(Rclunk()))])
        #expect(files.content("f") == Array("new".utf8) && files.names.keys.sorted() == [BlueTemporary.name(1), "f"])
        #expect(harness.session.blueRenameRefused && harness.host.blueNotes.contains { $0.contains("name still stands") })
    }

    @Test("an edit (no OTRUNC) on 9P2000.u: the old content is copied into the temporary, the writes applied there, and it is renamed over the file (old or new at every step); if another writer changed the file meanwhile, the commit applies in place over that change")
    func editReplaced() throws {
        for raced in [false, true] {
            let (harness, files, _) = try Self.replacing(mode: 1, content: "old content")
            harness.clientSends(tag: 12, .clunk(Tclunk(fid: 2)))
            var changed = false
            try files.serve(harness) {
                if raced, !changed, files.seen.contains(.Tread) {
                    files.setContent("f", Array("old content!".utf8))
                    changed = true
                }
                if !raced { #expect(files.content("f") == Array("old content".utf8) || files.content("f") == Array("new content".utf8)) }
            }
            #expect(try harness.clientReceived() == [Frame(tag: 12, message: .clunk(Rclunk()))])
            #expect(files.content("f") == Array((raced ? "new content!" : "new content").utf8) && files.seen.contains(.Tread))
            #expect(harness.host.blueCounts.contains(.atomicReplace) == !raced)
            #expect(files.names.keys.filter { BlueTemporary.isTemporary(Array($0.utf8)) && $0 != BlueTemporary.name(1) }.isEmpty)
        }
    }

    @Test("9P2000.u directory reads leave temporaries out; the client's offsets count what it was given, and its next read goes at the server's offset; a read of only temporaries goes on after them")
    func temporariesHidden() throws {
        var access = ProxySession.Access()
        access.blue = .init()
        let harness = SessionHarness(access: access)
        try harness.negotiate(.unix)
        try harness.attach(fid: 1)
        _ = try harness.walk(fid: 1, newfid: 6, names: [])
        let open = try harness.forward(tag: 3, .open(Topen(fid: 6, mode: 0)))
        harness.backendSends(tag: open.tag, .open(Ropen(qid: SessionHarness.rootQid, iounit: 0)))
        _ = try harness.clientReceived()
        func stats(_ names: [String]) -> [UInt8] {
            var writer = WireWriter()
            for name in names {
                Stat(qid: SessionHarness.fileQid, mode: 0o644, atime: 1, mtime: 1, length: 0, name: WireString(name), uid: "u", gid: "g", muid: "u")
                    .encode(into: &writer, dialect: .unix)
            }
            return writer.bytes
        }
        let (temporary, other) = (BlueTemporary.name(0xabc), BlueTemporary.name(0xdef))
        let first = try harness.forward(tag: 4, .read(Tread(fid: 6, offset: 0, count: 4000)))
        harness.backendSends(tag: first.tag, .read(Rread(data: stats(["a", temporary, "b"]))))
        let given = stats(["a", "b"])
        #expect(try harness.clientReceived() == [Frame(tag: 4, message: .read(Rread(data: given)))])
        let second = try harness.forward(tag: 5, .read(Tread(fid: 6, offset: UInt64(given.count), count: 4000)))
        let serverOffset = UInt64(stats(["a", temporary, "b"]).count)
        guard case let .read(sent) = second.message else { throw BlueModelTests.MissingReply(message: second.message) }
        #expect(sent.offset == serverOffset)
        harness.backendSends(tag: second.tag, .read(Rread(data: stats([other]))))
        let again = try #require(try harness.backendReceived().first)
        guard case let .read(reread) = again.message else { throw BlueModelTests.MissingReply(message: again.message) }
        #expect(reread.offset == serverOffset + UInt64(stats([other]).count))
        harness.backendSends(tag: again.tag, .read(Rread(data: stats(["c"]))))
        #expect(try harness.clientReceived() == [Frame(tag: 5, message: .read(Rread(data: stats(["c"]))))])
        // A read from the start begins again at the server's start.
        let restart = try harness.forward(tag: 7, .read(Tread(fid: 6, offset: 0, count: 4000)))
        guard case let .read(fresh) = restart.message else { throw BlueModelTests.MissingReply(message: restart.message) }
        #expect(fresh.offset == 0)
    }

    @Test("a small file made by Tcreate commits as its one Twrite, with no temporary")
    func createdSmallFile() throws {
        var access = ProxySession.Access()
        access.blue = .init()
        let harness = SessionHarness(access: access)
        try harness.negotiate(.unix)
        let root = try harness.attach(fid: 1)
        let directory = try harness.walk(fid: 1, newfid: 2, names: [])
        let files = ModelFileServer(root: root, dialect: .unix)
        _ = files.answer(.walk(Twalk(fid: root, newfid: directory, wnames: [])))
        harness.clientSends(tag: 3, .create(Tcreate(fid: 2, name: "g", perm: 0o644, mode: 1)))
        try files.serve(harness)
        _ = try harness.clientReceived()
        _ = try harness.answeredLocally(tag: 4, .write(Twrite(fid: 2, offset: 0, data: Array("small".utf8))))
        harness.clientSends(tag: 5, .clunk(Tclunk(fid: 2)))
        try files.serve(harness)
        #expect(try harness.clientReceived() == [Frame(tag: 5, message: .clunk(Rclunk()))])
        #expect(files.content("g") == Array("small".utf8) && files.seen.filter { $0 == .Tcreate }.count == 1)
    }
}
