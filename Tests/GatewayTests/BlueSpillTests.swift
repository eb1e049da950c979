import Foundation
import Testing
@testable import Gateway
import NineP
import Pebble

/// Blue's spill file (`--blue-memory`, `--blue-dir`) on a session over a recording host: held
/// bytes past the limit go to the file, reads and the commit take them from there, and a large
/// held write's data may be spliced straight into it.
@Suite("Blue spill on a session")
struct BlueSpillTests {
    @Test("past --blue-memory a fid's held bytes go to a spill file: reads overlay them from there, the commit writes them from there (read into the frame, or, where the host can, each Twrite's head followed by the file's bytes: sendfile), and a later write of the fid starts in memory again", arguments: [false, true])
    func spill(fromFile: Bool) throws {
        let (harness, backendFid) = try BlueSessionTests.opened(spillAfter: 4)
        harness.host.sendsFileData = fromFile
        #expect(try harness.answeredLocally(tag: 10, BlueSessionTests.write("hel")) == [Frame(tag: 10, message: .write(Rwrite(count: 3)))])
        #expect(harness.session.blue[backendFid]?.spill == nil, "within --blue-memory: in memory")
        _ = try harness.answeredLocally(tag: 11, BlueSessionTests.write("lo", at: 3))
        _ = try harness.answeredLocally(tag: 12, BlueSessionTests.write("XY", at: 8))
        let state = try #require(harness.session.blue[backendFid])
        #expect(state.spill != nil && state.file.spilled && state.file.extents.allSatisfy(\.bytes.isEmpty) && state.file.byteCount == 7)
        #expect(harness.host.blueCounts.contains(.spilled))
        #expect(try harness.answeredLocally(tag: 13, .read(Tread(fid: 2, offset: 1, count: 4))) == [Frame(tag: 13, message: .read(Rread(data: Array("ello".utf8))))])
        let read = try harness.forward(tag: 14, .read(Tread(fid: 2, offset: 0, count: 100)))
        harness.backendSends(tag: read.tag, .read(Rread(data: Array("0123456789abc".utf8))))
        #expect(try harness.clientReceived() == [Frame(tag: 14, message: .read(Rread(data: Array("hello567XYabc".utf8))))])
        harness.clientSends(tag: 15, .fsync(Tfsync(fid: 2, datasync: 0)))
        let writes = try harness.backendReceived()
        #expect(writes.map(\.message) == [.write(Twrite(fid: backendFid, offset: 0, data: Array("hello".utf8))),
                                          .write(Twrite(fid: backendFid, offset: 8, data: Array("XY".utf8)))])
        #expect(harness.host.fileDataSent == (fromFile ? 7 : 0))
        for (write, count) in zip(writes, [5, 2]) { harness.backendSends(tag: write.tag, .write(Rwrite(count: UInt32(count)))) }
        let fsync = try #require(try harness.backendReceived().first)
        harness.backendSends(tag: fsync.tag, .fsync(Rfsync()))
        #expect(try harness.clientReceived() == [Frame(tag: 15, message: .fsync(Rfsync()))])
        _ = try harness.answeredLocally(tag: 16, BlueSessionTests.write("a", at: 0))
        #expect(harness.session.blue[backendFid]?.spill == nil && harness.session.blue[backendFid]?.file.spilled == false)
    }

    @Test("a large held write on a spilled fid comes as its head: its data is to be spliced into the spill file (what came with the head written there at once), and the Rwrite follows once it is all there; a write over bytes already held is read whole instead, and one the client leaves in the middle holds nothing")
    func splicedHold() throws {
        let (harness, backendFid) = try BlueSessionTests.opened(spillAfter: 4)
        _ = try harness.answeredLocally(tag: 10, BlueSessionTests.write("hello"))
        let data = Array("0123456789".utf8)
        var frame = Frame(tag: 11, message: TMessage.write(Twrite(fid: 2, offset: 20, data: data))).encode(dialect: .linux)
        let head = NineP.twriteHeaderSize + 3   // three bytes of data came with the head
        #expect(frame.withUnsafeBytes { harness.session.splicesIntoSpill(UnsafeRawBufferPointer(rebasing: $0[..<head]), rest: data.count - 3) })
        let overlapping = Frame(tag: 12, message: TMessage.write(Twrite(fid: 2, offset: 2, data: data))).encode(dialect: .linux)
        #expect(!overlapping.withUnsafeBytes { harness.session.splicesIntoSpill(UnsafeRawBufferPointer(rebasing: $0[..<head]), rest: data.count - 3) })
        _ = frame.withUnsafeMutableBytes { harness.session.clientFrame(UnsafeMutableRawBufferPointer(rebasing: $0[..<head]), payloadToFollow: data.count - 3) }
        let hold = try #require(harness.session.takeSplicedHold())
        #expect(hold.offset == 20 && hold.count == 10 && hold.spliceAt == 23)
        #expect(try harness.clientReceived().isEmpty, "answered once the data is all there")
        // The host's splice: the rest of the data into the spill file.
        let wrote = Array(data[3...]).withUnsafeBytes { pwrite(hold.spill.fd, $0.baseAddress!, $0.count, off_t(hold.spliceAt)) }
        #expect(wrote == 7)
        harness.session.splicedHoldEnded(hold)
        #expect(try harness.clientReceived() == [Frame(tag: 11, message: .write(Rwrite(count: 10)))])
        #expect(try harness.answeredLocally(tag: 13, .read(Tread(fid: 2, offset: 20, count: 10))) == [Frame(tag: 13, message: .read(Rread(data: data)))])
        #expect(harness.session.blue[backendFid]?.file.byteCount == 15)
        // A client that leaves in the middle: nothing of that write is held.
        _ = frame.withUnsafeMutableBytes { bytes in
            FramePatch.setU64(40, at: NineP.ioOffsetOffset, in: bytes)
            return harness.session.clientFrame(UnsafeMutableRawBufferPointer(rebasing: bytes[..<head]), payloadToFollow: data.count - 3)
        }
        harness.session.splicedHoldDropped(try #require(harness.session.takeSplicedHold()))
        #expect(harness.session.blue[backendFid]?.file.byteCount == 15 && harness.session.bytesHeld == 15)
    }
}
