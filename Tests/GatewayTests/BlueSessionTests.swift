import Foundation
import Testing
@testable import Gateway
import NineP
import Pebble
import TestSupport

/// Blue writes and Red commit on a 9P2000.L session over a recording host: held writes never reach
/// the server before the clunk, the fid reads its own writes and sees its size, the commit's steps
/// go in order, and a client that goes away leaves nothing at the server.
@Suite("Blue writes on a session")
struct BlueSessionTests {
    static let readWrite: UInt32 = 2
    static let truncate: UInt32 = 0o1000

    /// A session with Blue on, fid 2 walked to a file and opened with `flags`; returns it and the
    /// backend fid behind fid 2. Unless `keepRoot`, the root fid 1 is clunked then: with no
    /// directory fid to walk from, commits apply in place (the steps these tests look at).
    /// `spillAfter`: held bytes past it spill to a file in the system temp dir.
    static func opened(flags: UInt32 = readWrite, blueMax: Int = 1 << 20, limits: ProxySession.Limits = .init(),
                       writeThrough: [String] = [], keepRoot: Bool = false, spillAfter: Int? = nil) throws -> (SessionHarness, UInt32) {
        var access = ProxySession.Access()
        access.blue = .init(maxPerFid: blueMax, writeThrough: PathGlobRule(globs: writeThrough),
                            spillDirectory: spillAfter == nil ? nil : NSTemporaryDirectory(), memoryPerFid: spillAfter ?? 1 << 20)
        let harness = SessionHarness(limits: limits, access: access)
        try harness.negotiate()
        try harness.attach(fid: 1)
        let backendFid = try harness.walk(fid: 1, newfid: 2, names: ["f"])
        let open = try harness.forward(tag: 3, .lopen(Tlopen(fid: 2, flags: flags)))
        let held = writeThrough.isEmpty && flags & 3 != 0 && flags & 0o2000 == 0
        #expect(open.message == .lopen(Tlopen(fid: backendFid, flags: held ? flags & ~truncate : flags)), "O_TRUNC is held, not sent")
        harness.backendSends(tag: open.tag, .lopen(Rlopen(qid: SessionHarness.fileQid, iounit: 0)))
        _ = try harness.clientReceived()
        if !keepRoot {
            let root = try harness.forward(tag: 9, .clunk(Tclunk(fid: 1)))
            harness.backendSends(tag: root.tag, .clunk(Rclunk()))
            _ = try harness.clientReceived()
        }
        return (harness, backendFid)
    }

    static func write(_ text: String, at offset: UInt64 = 0) -> TMessage { .write(Twrite(fid: 2, offset: offset, data: Array(text.utf8))) }

    @Test("writes are answered by the gateway and held; the fid reads its own writes over the server's bytes and sees its size; at the clunk the writes go in order, then the clunk, answered last")
    func holdAndCommit() throws {
        let (harness, backendFid) = try Self.opened()
        #expect(try harness.answeredLocally(tag: 10, Self.write("hello")) == [Frame(tag: 10, message: .write(Rwrite(count: 5)))])
        #expect(try harness.answeredLocally(tag: 11, Self.write("XY", at: 8)) == [Frame(tag: 11, message: .write(Rwrite(count: 2)))])
        #expect(harness.session.bytesHeld == 7 && harness.host.blueCounts == [.heldWrite, .heldWrite])
        // A read that needs the server's bytes goes there; its reply is overlaid.
        let read = try harness.forward(tag: 12, .read(Tread(fid: 2, offset: 0, count: 100)))
        harness.backendSends(tag: read.tag, .read(Rread(data: Array("0123456789abc".utf8))))
        #expect(try harness.clientReceived() == [Frame(tag: 12, message: .read(Rread(data: Array("hello567XYabc".utf8))))])
        // getattr shows the held size (the server's file is 4 bytes here: the writes reach 10).
        let getattr = try harness.forward(tag: 13, .getattr(Tgetattr(fid: 2, requestMask: 0x7ff)))
        var attributes = SessionHarness.sampleGetattr
        attributes.size = 4
        harness.backendSends(tag: getattr.tag, .getattr(attributes))
        #expect(try harness.clientReceived().first?.message.getattrSize == 10)

        harness.clientSends(tag: 14, .clunk(Tclunk(fid: 2)))
        #expect(try harness.clientReceived().isEmpty, "the clunk waits for the commit")
        let writes = try harness.backendReceived()
        #expect(writes.map(\.message) == [.write(Twrite(fid: backendFid, offset: 0, data: Array("hello".utf8))),
                                          .write(Twrite(fid: backendFid, offset: 8, data: Array("XY".utf8)))])
        harness.backendSends(tag: writes[0].tag, .write(Rwrite(count: 5)))
        #expect(try harness.backendReceived().isEmpty)
        harness.backendSends(tag: writes[1].tag, .write(Rwrite(count: 2)))
        let clunk = try #require(try harness.backendReceived().first)
        #expect(clunk.message == .clunk(Tclunk(fid: backendFid)))
        harness.backendSends(tag: clunk.tag, .clunk(Rclunk()))
        #expect(try harness.clientReceived() == [Frame(tag: 14, message: .clunk(Rclunk()))])
        #expect(harness.session.bytesHeld == 0 && harness.session.blue.isEmpty && harness.host.blueCounts.last == .commit)
    }

    @Test("an open with O_TRUNC and no directory fid to walk from (the root clunked): the truncation is held (reads see an empty file), and the commit applies in place, the truncation first, alone, then the writes")
    func heldTruncation() throws {
        let (harness, backendFid) = try Self.opened(flags: Self.readWrite | Self.truncate)
        #expect(try harness.answeredLocally(tag: 10, .read(Tread(fid: 2, offset: 0, count: 100))) == [Frame(tag: 10, message: .read(Rread(data: [])))])
        _ = try harness.answeredLocally(tag: 11, Self.write("new"))
        harness.clientSends(tag: 12, .fsync(Tfsync(fid: 2, datasync: 0)))
        let resize = try harness.backendReceived()
        #expect(resize.map(\.message) == [.setattr(Tsetattr(fid: backendFid, valid: 8, mode: 0, uid: 0, gid: 0, size: 0,
                                                             atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0))])
        harness.backendSends(tag: resize[0].tag, .setattr(Rsetattr()))
        let write = try harness.backendReceived()
        #expect(write.map(\.message) == [.write(Twrite(fid: backendFid, offset: 0, data: Array("new".utf8)))])
        harness.backendSends(tag: write[0].tag, .write(Rwrite(count: 3)))
        let fsync = try #require(try harness.backendReceived().first)
        #expect(fsync.message == .fsync(Tfsync(fid: backendFid, datasync: 0)))
        harness.backendSends(tag: fsync.tag, .fsync(Rfsync()))
        #expect(try harness.clientReceived() == [Frame(tag: 12, message: .fsync(Rfsync()))])
        // The fid still holds the writes that come after.
        _ = try harness.answeredLocally(tag: 13, Self.write("more", at: 3))
        #expect(harness.host.blueNotes.first?.hasPrefix("commit in place: no directory fid") == true)
    }

    /// A session whose fid 2 is open with O_TRUNC on "f" (content "old") of a model server, with a
    /// crash's stale temporary beside it; "new" written and held.
    static func replacing() throws -> (SessionHarness, ModelFileServer, UInt32) {
        let (harness, backendFid) = try opened(flags: readWrite | truncate, keepRoot: true)
        let files = ModelFileServer(root: try #require(harness.session.fids.lookup(1)).backendFid)
        files.addFile("f", content: Array("old".utf8), fid: backendFid)
        files.addFile(BlueTemporary.name(1), content: Array("ol".utf8), fid: 900)
        _ = try harness.answeredLocally(tag: 10, write("new"))
        return (harness, files, backendFid)
    }

    @Test("atomic replace: the commit of a truncated file writes a hidden temporary with the file's mode and owner and renames it over the file, which is the old content or the new one at every step; the client fid moves to the new file; a crash's stale temporary in the directory is removed")
    func atomicReplace() throws {
        let (harness, files, backendFid) = try Self.replacing()
        harness.clientSends(tag: 12, .clunk(Tclunk(fid: 2)))
        try files.serve(harness) {
            #expect(files.content("f") == Array("old".utf8) || files.content("f") == Array("new".utf8))
        }
        #expect(try harness.clientReceived() == [Frame(tag: 12, message: .clunk(Rclunk()))])
        #expect(files.content("f") == Array("new".utf8) && files.names.keys.sorted() == ["f"], "the stale temporary is gone")
        #expect(files.seen.filter { [.Tlcreate, .Tsetattr, .Twrite, .Trename, .Tremove].contains($0) }
            == [.Tlcreate, .Tsetattr, .Tsetattr, .Twrite, .Trename, .Tremove])
        #expect(harness.host.blueCounts.filter { $0 != .heldWrite } == [.atomicReplace, .commit, .staleTemporaryRemoved])
        let root = try #require(harness.session.fids.lookup(1)).backendFid
        #expect(harness.session.blue.isEmpty && harness.session.fids.liveBackendFids == [root],
                "every fid the gateway made is clunked, and so is the old file's \(backendFid)")
    }

    @Test("after a replace at Tfsync the fid stands for the new file: its next writes are held again, and commit as an edit (the new file copied, changed, renamed over itself)")
    func replaceThenMore() throws {
        let (harness, files, backendFid) = try Self.replacing()
        harness.clientSends(tag: 12, .fsync(Tfsync(fid: 2, datasync: 0)))
        try files.serve(harness)
        #expect(try harness.clientReceived() == [Frame(tag: 12, message: .fsync(Rfsync()))])
        #expect(try #require(harness.session.fids.lookup(2)).backendFid != backendFid)
        _ = try harness.answeredLocally(tag: 13, Self.write("er", at: 3))
        #expect(files.content("f") == Array("new".utf8))
        harness.clientSends(tag: 14, .clunk(Tclunk(fid: 2)))
        try files.serve(harness)
        #expect(try harness.clientReceived() == [Frame(tag: 14, message: .clunk(Rclunk()))])
        #expect(files.content("f") == Array("newer".utf8) && files.seen.filter { $0 == .Trename }.count == 2)
        #expect(files.names.keys.sorted() == ["f"])
    }

    @Test("a server that refuses the rename: the temporary is removed and the commit applies in place; one that fails a write: the temporary is removed, the file stays as it was, the clunk gets the error")
    func replaceRefused() throws {
        let (harness, files, _) = try Self.replacing()
        files.refuse = [.Trename]
        harness.clientSends(tag: 12, .clunk(Tclunk(fid: 2)))
        try files.serve(harness)
        #expect(try harness.clientReceived() == [Frame(tag: 12, message: .clunk(Rclunk()))])
        #expect(files.content("f") == Array("new".utf8) && !files.names.keys.contains { $0.hasPrefix(".pebble9p-") && $0 != BlueTemporary.name(1) })
        #expect(harness.host.blueNotes.contains { $0.hasPrefix("commit in place: the server refused the rename") })

        let (failing, failingFiles, _) = try Self.replacing()
        failingFiles.refuse = [.Twrite]
        failing.clientSends(tag: 12, .clunk(Tclunk(fid: 2)))
        try failingFiles.serve(failing)
        #expect(try failing.clientReceived() == [Frame(tag: 12, message: .lerror(Rlerror(ecode: 1)))])
        #expect(failingFiles.content("f") == Array("old".utf8) && failingFiles.names.keys.sorted() == [BlueTemporary.name(1), "f"])
    }

    @Test("an edit in place (no truncation): the commit copies the old file into a temporary, applies the held writes there and renames it over the file; if another writer changed the file meanwhile, the temporary is dropped and the commit applies in place over that change, so neither is lost")
    func editInPlace() throws {
        func edit(concurrently change: [UInt8]?) throws -> (ModelFileServer, SessionHarness) {
            let (harness, backendFid) = try Self.opened(keepRoot: true)
            let files = ModelFileServer(root: try #require(harness.session.fids.lookup(1)).backendFid)
            files.addFile("f", content: Array("0123456789".utf8), fid: backendFid)
            _ = try harness.answeredLocally(tag: 10, Self.write("AB", at: 2))
            harness.clientSends(tag: 12, .clunk(Tclunk(fid: 2)))
            var changed = false
            try files.serve(harness) {
                if let change, !changed, files.seen.contains(.Tread) {
                    files.setContent("f", change)
                    changed = true
                }
                if change == nil { #expect(files.content("f") == Array("0123456789".utf8) || files.content("f") == Array("01AB456789".utf8)) }
            }
            #expect(try harness.clientReceived() == [Frame(tag: 12, message: .clunk(Rclunk()))])
            #expect(files.names.keys.sorted() == ["f"] && harness.session.blue.isEmpty)
            return (files, harness)
        }
        let (files, _) = try edit(concurrently: nil)
        #expect(files.content("f") == Array("01AB456789".utf8) && files.seen.contains(.Tread) && files.seen.contains(.Trename))
        let (raced, harness) = try edit(concurrently: Array("0123456789X".utf8))
        #expect(raced.content("f") == Array("01AB456789X".utf8) && !raced.seen.contains(.Trename))
        #expect(harness.host.blueNotes.contains { $0.hasPrefix("commit in place: another writer changed the file") })
    }

    @Test("past --blue-max the fid streams: what it held goes to the temporary, its later writes are forwarded there (nothing held), the file keeps its old content until the clunk renames the temporary over it; a client that dies while streaming leaves the file as it was and no temporary")
    func streaming() throws {
        for dies in [false, true] {
            let (harness, backendFid) = try Self.opened(flags: Self.readWrite | Self.truncate, blueMax: 8, keepRoot: true)
            let files = ModelFileServer(root: try #require(harness.session.fids.lookup(1)).backendFid)
            files.addFile("f", content: Array("old".utf8), fid: backendFid)
            _ = try harness.answeredLocally(tag: 10, Self.write("abcde"))
            harness.clientSends(tag: 11, Self.write("fghij", at: 5))
            try files.serve(harness)
            #expect(try harness.clientReceived() == [Frame(tag: 11, message: .write(Rwrite(count: 5)))])
            #expect(harness.session.blue[backendFid]?.stream != nil && harness.session.bytesHeld == 0)
            let next = try harness.forward(tag: 12, Self.write("klm", at: 10))
            #expect(next.message != Self.write("klm", at: 10) && next.message.writeFid != backendFid, "forwarded to the temporary")
            harness.backendSends(tag: next.tag, files.answer(next.message))
            _ = try harness.clientReceived()
            #expect(files.content("f") == Array("old".utf8) && files.names.count == 2)
            if dies {
                harness.session.clientClosed()
                try files.serve(harness)
                #expect(files.content("f") == Array("old".utf8) && files.names.keys.sorted() == ["f"])
                #expect(harness.host.events.contains { $0.kind == .partialWriteRollback })
                continue
            }
            harness.clientSends(tag: 13, .clunk(Tclunk(fid: 2)))
            try files.serve(harness)
            #expect(try harness.clientReceived() == [Frame(tag: 13, message: .clunk(Rclunk()))])
            #expect(files.content("f") == Array("abcdefghijklm".utf8) && files.names.keys.sorted() == ["f"])
        }
    }

    @Test("9P2000.u: writes are held, Tstat shows the held length, a Twstat of the length alone is answered by the gateway; without a directory fid to walk from the clunk commits in place (Twstat of the length, checked by a Tstat, then the writes), then clunks")
    func plan9Dialects() throws {
        var access = ProxySession.Access()
        access.blue = .init()
        let harness = SessionHarness(access: access)
        try harness.negotiate(.unix)
        try harness.attach(fid: 1)
        let backendFid = try harness.walk(fid: 1, newfid: 2, names: ["f"])
        let open = try harness.forward(tag: 3, .open(Topen(fid: 2, mode: 2)))
        #expect(open.message == .open(Topen(fid: backendFid, mode: 2)))
        harness.backendSends(tag: open.tag, .open(Ropen(qid: SessionHarness.fileQid, iounit: 0)))
        _ = try harness.clientReceived()
        // No directory fid to walk from: the commit applies in place.
        let root = try harness.forward(tag: 4, .clunk(Tclunk(fid: 1)))
        harness.backendSends(tag: root.tag, .clunk(Rclunk()))
        _ = try harness.clientReceived()
        #expect(try harness.answeredLocally(tag: 10, Self.write("hello")) == [Frame(tag: 10, message: .write(Rwrite(count: 5)))])
        let stat = try harness.forward(tag: 11, .stat(Tstat(fid: 2)))
        let onServer = Stat(qid: SessionHarness.fileQid, mode: 0o644, atime: 1, mtime: 2, length: 3, name: "f", uid: "u", gid: "g", muid: "u")
        harness.backendSends(tag: stat.tag, .stat(Rstat(stat: onServer)))
        guard case let .stat(shown)? = try harness.clientReceived().first?.message else { throw BlueModelTests.MissingReply(message: stat.message) }
        #expect(shown.stat.length == 5)
        #expect(try harness.answeredLocally(tag: 12, .wstat(Twstat(fid: 2, stat: .unchanged(length: 2)))) == [Frame(tag: 12, message: .wstat(Rwstat()))])
        harness.clientSends(tag: 13, .clunk(Tclunk(fid: 2)))
        let resize = try harness.backendReceived()
        #expect(resize.map(\.message) == [.wstat(Twstat(fid: backendFid, stat: .unchanged(length: 2)))])
        harness.backendSends(tag: resize[0].tag, .wstat(Rwstat()))
        let check = try harness.backendReceived()
        #expect(check.map(\.message) == [.stat(Tstat(fid: backendFid))])
        var resized = onServer
        resized.length = 2
        harness.backendSends(tag: check[0].tag, .stat(Rstat(stat: resized)))
        let write = try harness.backendReceived()
        #expect(write.map(\.message) == [.write(Twrite(fid: backendFid, offset: 0, data: Array("he".utf8)))])
        harness.backendSends(tag: write[0].tag, .write(Rwrite(count: 2)))
        let clunk = try #require(try harness.backendReceived().first)
        #expect(clunk.message == .clunk(Tclunk(fid: backendFid)))
        harness.backendSends(tag: clunk.tag, .clunk(Rclunk()))
        #expect(try harness.clientReceived() == [Frame(tag: 13, message: .clunk(Rclunk()))])
        #expect(harness.session.blue.isEmpty && harness.session.bytesHeld == 0)
    }

    @Test("temporaries are hidden: a walk to one fails with ENOENT and a create of one with EACCES, neither reaching the server; directory reads leave them out, and a read that held only them goes on from after them")
    func temporariesHidden() throws {
        let (harness, _) = try Self.opened(flags: 0, keepRoot: true)
        let name = WireString(BlueTemporary.name(0xabc))
        #expect(try harness.answeredLocally(tag: 20, .walk(Twalk(fid: 1, newfid: 5, wnames: [name]))) == [Frame(tag: 20, message: .lerror(Rlerror(ecode: 2)))])
        _ = try harness.walk(fid: 1, newfid: 6, names: [])
        #expect(try harness.answeredLocally(tag: 21, .lcreate(Tlcreate(fid: 6, name: name, flags: 2, mode: 0o644, gid: 0)))
            == [Frame(tag: 21, message: .lerror(Rlerror(ecode: 13)))])
        let open = try harness.forward(tag: 24, .lopen(Tlopen(fid: 6, flags: 0)))
        harness.backendSends(tag: open.tag, .lopen(Rlopen(qid: SessionHarness.rootQid, iounit: 0)))
        _ = try harness.clientReceived()
        let entry = { (name: WireString, offset: UInt64) in Dirent(qid: SessionHarness.fileQid, offset: offset, type: 8, name: name) }
        let read = try harness.forward(tag: 22, .readdir(Treaddir(fid: 6, offset: 0, count: 1000)))
        harness.backendSends(tag: read.tag, .readdir(Rreaddir(data: Dirent.encodeAll([entry("a", 1), entry(name, 2), entry("b", 3)]))))
        #expect(try harness.clientReceived() == [Frame(tag: 22, message: .readdir(Rreaddir(data: Dirent.encodeAll([entry("a", 1), entry("b", 3)]))))])
        let only = try harness.forward(tag: 23, .readdir(Treaddir(fid: 6, offset: 3, count: 40)))
        harness.backendSends(tag: only.tag, .readdir(Rreaddir(data: Dirent.encodeAll([entry(name, 4)]))))
        let again = try #require(try harness.backendReceived().first)
        #expect(again.message == .readdir(Treaddir(fid: only.message.readdirFid ?? 0, offset: 4, count: 40)))
        harness.backendSends(tag: again.tag, .readdir(Rreaddir(data: Dirent.encodeAll([entry("c", 5)]))))
        #expect(try harness.clientReceived() == [Frame(tag: 23, message: .readdir(Rreaddir(data: Dirent.encodeAll([entry("c", 5)]))))])
    }

    @Test("a Tsetattr of the size on the fid is held; what else it sets goes to the server")
    func heldSetattr() throws {
        let (harness, backendFid) = try Self.opened()
        let sizeOnly = Tsetattr(fid: 2, valid: 8, mode: 0, uid: 0, gid: 0, size: 0, atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0)
        #expect(try harness.answeredLocally(tag: 10, .setattr(sizeOnly)) == [Frame(tag: 10, message: .setattr(Rsetattr()))])
        var withTimes = sizeOnly
        withTimes.valid = 8 | 0x20 | 0x40   // size, mtime, ctime (what Linux sends for O_TRUNC)
        let sent = try harness.forward(tag: 11, .setattr(withTimes))
        var expected = withTimes
        (expected.fid, expected.valid) = (backendFid, 0x60)
        #expect(sent.message == .setattr(expected))
        #expect(harness.session.blue[backendFid]?.file.length == 0)
    }

    @Test("a read of a fid whose held size makes all of it known is answered from what it holds, never with more data than msize carries (a hostile count of 4 GiB once made a 1.35 GB Rread)")
    func heldReadCappedToMsize() throws {
        let (harness, backendFid) = try Self.opened()
        for size: UInt64 in [0, 1 << 32] {
            let resize = Tsetattr(fid: 2, valid: 8, mode: 0, uid: 0, gid: 0, size: size, atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0)
            #expect(try harness.answeredLocally(tag: 10, .setattr(resize)) == [Frame(tag: 10, message: .setattr(Rsetattr()))])
        }
        #expect(harness.session.blue[backendFid]?.file.length == 1 << 32)
        let fits = Int(harness.session.msize) - NineP.rreadHeaderSize
        let replies = try harness.answeredLocally(tag: 11, .read(Tread(fid: 2, offset: 5, count: .max)))
        #expect(replies == [Frame(tag: 11, message: .read(Rread(data: Array(repeating: 0, count: fits))))])
    }

    @Test("a size change through another fid of the same file (truncate by path while it is open, by the same name or another with the same qid) commits the held writes first, then goes", arguments: [false, true])
    func sizeChangeElsewhere(otherName: Bool) throws {
        let (harness, backendFid) = try Self.opened(keepRoot: true)
        _ = try harness.answeredLocally(tag: 10, Self.write("hello"))
        // The same name, or another (a hard link: the same qid).
        let other = try harness.walk(fid: 1, newfid: 3, names: [otherName ? "link" : "f"], tag: 11)
        let root = try harness.forward(tag: 9, .clunk(Tclunk(fid: 1)))
        harness.backendSends(tag: root.tag, .clunk(Rclunk()))
        _ = try harness.clientReceived()
        let truncate = Tsetattr(fid: 3, valid: 8, mode: 0, uid: 0, gid: 0, size: 2, atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0)
        harness.clientSends(tag: 12, .setattr(truncate))
        let commit = try harness.backendReceived()
        #expect(commit.map(\.message) == [.write(Twrite(fid: backendFid, offset: 0, data: Array("hello".utf8)))], "the writes first")
        harness.backendSends(tag: commit[0].tag, .write(Rwrite(count: 5)))
        let sent = try #require(try harness.backendReceived().first)
        var expected = truncate
        expected.fid = other
        #expect(sent.message == .setattr(expected))
        harness.backendSends(tag: sent.tag, .setattr(Rsetattr()))
        #expect(try harness.clientReceived() == [Frame(tag: 12, message: .setattr(Rsetattr()))])
        // Nothing held now: the next one goes at once.
        _ = try harness.forward(tag: 13, .setattr(truncate))
    }

    @Test("a client that goes away with writes held: nothing of them reaches the server (only the cleanup clunks), and a PARTIAL_WRITE_ROLLBACK event says what was dropped")
    func rollback() throws {
        let (harness, backendFid) = try Self.opened()
        _ = try harness.answeredLocally(tag: 10, Self.write("hello"))
        _ = try harness.answeredLocally(tag: 11, Self.write("world", at: 100))
        harness.session.clientClosed()
        let sent = try harness.backendReceived()
        #expect(sent.allSatisfy { if case .clunk = $0.message { true } else { false } } && sent.contains { $0.message == .clunk(Tclunk(fid: backendFid)) })
        let event = try #require(harness.host.events.last)
        #expect(event.kind == .partialWriteRollback && event.detail.hasPrefix("10 bytes in 2 extents"))
        #expect(harness.session.bytesHeld == 0 && harness.host.blueCounts.last == .rollback)
    }

    @Test("a commit the server fails: the clunk still goes, and the client's Rclunk is the commit's error")
    func failedCommit() throws {
        let (harness, backendFid) = try Self.opened()
        _ = try harness.answeredLocally(tag: 10, Self.write("hello"))
        harness.clientSends(tag: 11, .clunk(Tclunk(fid: 2)))
        let write = try #require(try harness.backendReceived().first)
        harness.backendSends(tag: write.tag, .lerror(Rlerror(ecode: 28)))
        let clunk = try #require(try harness.backendReceived().first)
        #expect(clunk.message == .clunk(Tclunk(fid: backendFid)))
        harness.backendSends(tag: clunk.tag, .clunk(Rclunk()))
        #expect(try harness.clientReceived() == [Frame(tag: 11, message: .lerror(Rlerror(ecode: 28)))])
        #expect(harness.host.blueCounts.last == .commitFailed && harness.session.fids.lookup(2) == nil)
    }

    @Test("a short write in a commit: the rest is written next")
    func shortWrite() throws {
        let (harness, backendFid) = try Self.opened()
        _ = try harness.answeredLocally(tag: 10, Self.write("hello"))
        harness.clientSends(tag: 11, .clunk(Tclunk(fid: 2)))
        let write = try #require(try harness.backendReceived().first)
        harness.backendSends(tag: write.tag, .write(Rwrite(count: 2)))
        let rest = try #require(try harness.backendReceived().first)
        #expect(rest.message == .write(Twrite(fid: backendFid, offset: 2, data: Array("llo".utf8))))
        harness.backendSends(tag: rest.tag, .write(Rwrite(count: 3)))
        let clunk = try #require(try harness.backendReceived().first)
        harness.backendSends(tag: clunk.tag, .clunk(Rclunk()))
        #expect(try harness.clientReceived() == [Frame(tag: 11, message: .clunk(Rclunk()))])
    }

    @Test("requests on a fid during its commit wait and are handled in order after it; a Tflush of one drops it; its tag stays in use meanwhile")
    func duringCommit() throws {
        let (harness, backendFid) = try Self.opened()
        _ = try harness.answeredLocally(tag: 10, Self.write("hello"))
        harness.clientSends(tag: 11, .fsync(Tfsync(fid: 2, datasync: 0)))
        let write = try #require(try harness.backendReceived().first)
        _ = try harness.answeredLocally(tag: 12, .getattr(Tgetattr(fid: 2, requestMask: 0x7ff)))
        _ = try harness.answeredLocally(tag: 13, .read(Tread(fid: 2, offset: 0, count: 5)))
        #expect(try harness.answeredLocally(tag: 20, .flush(Tflush(oldtag: 13))) == [Frame(tag: 20, message: .flush(Rflush()))])
        harness.backendSends(tag: write.tag, .write(Rwrite(count: 5)))
        let after = try harness.backendReceived()
        #expect(after.map(\.message) == [.fsync(Tfsync(fid: backendFid, datasync: 0)), .getattr(Tgetattr(fid: backendFid, requestMask: 0x7ff))])
    }

    @Test("requests waiting for a commit count as held: past max-held-bytes the client is not read; without a byte quota a session holds at most four fids' worth of Blue bytes")
    func bounds() throws {
        let (harness, _) = try Self.opened(blueMax: 100, limits: .init(maxHeldBytes: 200))
        _ = try harness.answeredLocally(tag: 10, Self.write("hello"))
        #expect(harness.session.quota == nil && harness.session.blueFits(395) && !harness.session.blueFits(396), "4 × 100 in all")
        harness.clientSends(tag: 11, .fsync(Tfsync(fid: 2, datasync: 0)))
        #expect(harness.session.acceptsClientFrames)
        for tag in UInt16(12)..<20 { harness.clientSends(tag: tag, Self.write(String(repeating: "x", count: 40), at: 5)) }
        #expect(!harness.session.acceptsClientFrames, "\(harness.session.blueDeferredBytes) bytes wait for the commit")
    }

    @Test("a fid past --blue-max commits what it holds, and that write and the next go through")
    func writeThrough() throws {
        let (harness, backendFid) = try Self.opened(blueMax: 8)
        _ = try harness.answeredLocally(tag: 10, Self.write("hello"))
        harness.clientSends(tag: 11, Self.write("world", at: 5))
        let commit = try #require(try harness.backendReceived().first)
        #expect(commit.message == .write(Twrite(fid: backendFid, offset: 0, data: Array("hello".utf8))))
        harness.backendSends(tag: commit.tag, .write(Rwrite(count: 5)))
        let through = try #require(try harness.backendReceived().first)
        #expect(through.message == .write(Twrite(fid: backendFid, offset: 5, data: Array("world".utf8))))
        #expect(harness.host.blueCounts.contains(.writeThrough))
        _ = try harness.forward(tag: 12, Self.write("!", at: 10))
    }

    /// A session with Blue on and fid 2 walked to a directory, where it sends Tlcreate `name`.
    static func creating(flags: UInt32) throws -> (SessionHarness, UInt32, Frame<TMessage>) {
        var access = ProxySession.Access()
        access.blue = .init()
        let harness = SessionHarness(access: access)
        try harness.negotiate()
        try harness.attach(fid: 1)
        let backendFid = try harness.walk(fid: 1, newfid: 2, names: ["dir"])
        let create = try harness.forward(tag: 3, .lcreate(Tlcreate(fid: 2, name: "new", flags: flags, mode: 0o644, gid: 0)))
        return (harness, backendFid, create)
    }

    @Test("a file the fid created (O_CREAT|O_TRUNC), with content one Twrite carries, commits as that Twrite alone (no truncation, no temporary); with more, it is replaced through a temporary; with none, the clunk goes at once")
    func createdSmallFile() throws {
        for size in [0, 100, 20_000] {
            let (harness, _, create) = try Self.creating(flags: 0o100 | 0o1000 | 1)
            harness.backendSends(tag: create.tag, .lcreate(Rlcreate(qid: SessionHarness.fileQid, iounit: 0)))
            _ = try harness.clientReceived()
            let fid = try #require(harness.session.fids.lookup(2)).backendFid
            if size > 0 { _ = try harness.answeredLocally(tag: 10, .write(Twrite(fid: 2, offset: 0, data: [UInt8](repeating: 7, count: size)))) }
            harness.clientSends(tag: 11, .clunk(Tclunk(fid: 2)))
            let first = try harness.backendReceived()
            if size == 0 {
                // Created with O_TRUNC and closed unwritten (as p9fs does): the commit has nothing to
                // send, and the clunk that waited for it goes at once.
                #expect(first.map(\.message) == [.clunk(Tclunk(fid: fid))])
            } else if size == 100 {
                #expect(first.map(\.message) == [.write(Twrite(fid: fid, offset: 0, data: [UInt8](repeating: 7, count: size)))])
            } else {
                #expect(first.first?.message.type == .Tgetattr && first.count == 3, "a replace begins: \(first.map(\.message.type))")
            }
        }
    }

    @Test("a Tlcreate goes with O_EXCL added; a client that dies before committing leaves no file: the cleanup removes it (Tremove, not Tclunk)")
    func createdThenRolledBack() throws {
        let (harness, backendFid, create) = try Self.creating(flags: 0o100 | 1)
        #expect(create.message == .lcreate(Tlcreate(fid: backendFid, name: "new", flags: 0o100 | 1 | 0o200, mode: 0o644, gid: 0)))
        harness.backendSends(tag: create.tag, .lcreate(Rlcreate(qid: SessionHarness.fileQid, iounit: 0)))
        #expect(try harness.clientReceived().map(\.tag) == [3])
        _ = try harness.answeredLocally(tag: 4, .write(Twrite(fid: 2, offset: 0, data: [1, 2, 3])))
        harness.session.clientClosed()
        let cleanup = try harness.backendReceived().map(\.message)
        #expect(cleanup.contains(.remove(Tremove(fid: backendFid))) && !cleanup.contains(.clunk(Tclunk(fid: backendFid))), "\(cleanup)")
        #expect(harness.host.events.last?.detail.contains("the file it created removed") == true)
    }

    @Test("a Tlcreate of a file that is there (EEXIST to the gateway's O_EXCL) is sent again as the client sent it and opens it; a rollback then leaves the file")
    func createdExisting() throws {
        let (harness, backendFid, create) = try Self.creating(flags: 0o100 | 1)
        harness.backendSends(tag: create.tag, .lerror(Rlerror(ecode: 17)))
        #expect(try harness.clientReceived().isEmpty, "the client does not see the gateway's EEXIST")
        let again = try #require(try harness.backendReceived().first)
        #expect(again.message == .lcreate(Tlcreate(fid: backendFid, name: "new", flags: 0o100 | 1, mode: 0o644, gid: 0)))
        harness.backendSends(tag: again.tag, .lcreate(Rlcreate(qid: SessionHarness.fileQid, iounit: 0)))
        #expect(try harness.clientReceived().map(\.tag) == [3])
        _ = try harness.answeredLocally(tag: 4, .write(Twrite(fid: 2, offset: 0, data: [1])))
        harness.session.clientClosed()
        let cleanup = try harness.backendReceived().map(\.message)
        #expect(cleanup.contains(.clunk(Tclunk(fid: backendFid))) && !cleanup.contains(.remove(Tremove(fid: backendFid))), "\(cleanup)")
    }

    @Test("an open for reading, or for appending, or of a file --write-through names, holds nothing; with Blue off nothing is held")
    func notBlue() throws {
        for flags: UInt32 in [0, 0o2000 | 1] {
            let (harness, _) = try Self.opened(flags: flags)
            #expect(harness.session.blue.isEmpty)
        }
        // A file --write-through names: its O_TRUNC goes to the server, its writes too.
        let (through, _) = try Self.opened(flags: Self.readWrite | Self.truncate, writeThrough: ["/f"])
        #expect(through.session.blue.isEmpty)
        _ = try through.forward(tag: 10, Self.write("now"))
        let harness = SessionHarness()
        try harness.negotiate()
        try harness.attach(fid: 1)
        try harness.walk(fid: 1, newfid: 2, names: ["f"])
        let open = try harness.forward(tag: 3, .lopen(Tlopen(fid: 2, flags: Self.readWrite | Self.truncate)))
        #expect(open.message.lopenFlags == Self.readWrite | Self.truncate)
    }
}

/// Blue against a model: random writes, reads, size changes and fsyncs on one fid, the server a
/// byte array that applies what the gateway sends, answered at random moments (so requests come
/// while a commit runs); reads must show the client's own file, every commit and the final clunk
/// must leave the server with exactly it, and nothing may stay held.
@Suite("Blue writes against a model")
struct BlueModelTests {
    @Test("random writes, reads, resizes and fsyncs, then a clunk (or, holding or streaming everything, the client dies: the server keeps what the last fsync committed); with --blue-max 64 or 1000 most fids stream to their temporary; with --blue-memory 8 or 300 what is held spills to a file", arguments: 0..<200)
    func model(seed: Int) throws {
        var random = SplitMix64(seed: UInt64(seed) &* 104_729 &+ 7)
        let flags: UInt32 = random.below(2) == 0 ? 2 : 2 | 0o1000
        let blueMax = [64, 1000, 1 << 20][random.below(3)]
        let spillAfter = [nil, 8, 300][seed % 3]
        let (harness, backendFid) = try BlueSessionTests.opened(flags: flags, blueMax: blueMax, keepRoot: true, spillAfter: spillAfter)
        harness.host.sendsFileData = seed % 4 < 2
        let files = ModelFileServer(root: try #require(harness.session.fids.lookup(1)).backendFid)
        var server: [UInt8] { files.content("f") ?? [] }
        files.addFile("f", content: (0..<random.below(300)).map { _ in UInt8(truncatingIfNeeded: random.next()) }, fid: backendFid)
        var committed = server
        var expected = flags & 0o1000 != 0 ? [] : server
        var reads: [UInt16: [UInt8]] = [:]
        var waiting: Set<UInt16> = []
        func resize(_ bytes: inout [UInt8], _ size: Int) {
            if size < bytes.count { bytes.removeSubrange(size...) } else { bytes += [UInt8](repeating: 0, count: size - bytes.count) }
        }
        /// Answers everything the gateway sent, as a server would, until it sends nothing more.
        func pump() throws {
            while case let frames = try harness.backendReceived(), !frames.isEmpty {
                for frame in frames {
                    let reply = files.answer(frame.message)
                    if case .lerror = reply { throw MissingReply(message: frame.message) }
                    harness.backendSends(tag: frame.tag, reply)
                }
            }
            for reply in try harness.clientReceived() {
                waiting.remove(reply.tag)
                if let want = reads.removeValue(forKey: reply.tag) {
                    #expect(reply.message == .read(Rread(data: want)), "seed \(seed): read \(reply.tag)")
                } else if case .lerror = reply.message {
                    Issue.record("seed \(seed): \(reply)")
                }
            }
        }
        for step in 0..<60 {
            let tag = UInt16(100 + step)
            waiting.insert(tag)
            switch random.below(10) {
            case 0...4:
                let offset = random.below(400), data = (0..<(1 + random.below(120))).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                harness.clientSends(tag: tag, .write(Twrite(fid: 2, offset: UInt64(offset), data: data)))
                if expected.count < offset + data.count { resize(&expected, offset + data.count) }
                expected.replaceSubrange(offset..<(offset + data.count), with: data)
            case 5, 6:
                let offset = random.below(500), count = random.below(200)
                reads[tag] = offset >= expected.count ? [] : Array(expected[offset..<min(expected.count, offset + count)])
                harness.clientSends(tag: tag, .read(Tread(fid: 2, offset: UInt64(offset), count: UInt32(count))))
                // A read and a later write of the same bytes, both in flight, may be answered in
                // either order (as by any 9P server): the model waits for the read.
                try pump()
            case 7:
                let size = random.below(450)
                harness.clientSends(tag: tag, .setattr(Tsetattr(fid: 2, valid: 8, mode: 0, uid: 0, gid: 0, size: UInt64(size),
                                                               atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0)))
                resize(&expected, size)
            default:
                harness.clientSends(tag: tag, .fsync(Tfsync(fid: 2, datasync: 0)))
                try pump()
                #expect(server == expected, "seed \(seed): after the fsync at step \(step)")
                committed = server
            }
            if random.below(3) == 0 { try pump() }
        }
        // A fid that wrote through (an edit of a file past --blue-max) has nothing to roll back.
        if random.below(2) == 0 && harness.session.blue.values.allSatisfy({ !$0.writeThrough }) {
            // The client dies instead: the server keeps what the last fsync committed, nothing after.
            try pump()
            harness.session.clientClosed()
            try pump()
            #expect(server == committed, "seed \(seed): after the client died")
            #expect(harness.session.blue.isEmpty && harness.session.bytesHeld == 0)
            #expect(files.names.keys.sorted() == ["f"], "seed \(seed): no temporary left")
            return
        }
        harness.clientSends(tag: 999, .clunk(Tclunk(fid: 2)))
        try pump()
        #expect(server == expected, "seed \(seed): after the clunk")
        #expect(files.names.keys.sorted() == ["f"], "seed \(seed): no temporary left")
        if flags & 0o1000 != 0 && blueMax == 1 << 20 {
            #expect(files.seen.contains(.Trename), "seed \(seed): a truncated file is replaced whole")
        }
        #expect(waiting.isEmpty && reads.isEmpty, "seed \(seed): unanswered \(waiting.sorted())")
        #expect(harness.session.blue.isEmpty && harness.session.bytesHeld == 0 && harness.session.blueDeferredTags.isEmpty)
    }

    struct MissingReply: Error { let message: TMessage }
}

extension RMessage {
    var getattrSize: UInt64? { if case let .getattr(attributes) = self { attributes.size } else { nil } }
}

extension TMessage {
    var lopenFlags: UInt32? { if case let .lopen(open) = self { open.flags } else { nil } }
    var readdirFid: UInt32? { if case let .readdir(read) = self { read.fid } else { nil } }
    var writeFid: UInt32? { if case let .write(write) = self { write.fid } else { nil } }
}
