import Testing
import NineP

@Suite("Frame header")
struct FrameHeaderTests {
    @Test func peek() throws {
        let bytes = Frame(tag: 0x0102, message: TMessage.clunk(Tclunk(fid: 7))).encode(dialect: .linux)
        let header = try #require(bytes.withUnsafeBytes { FrameHeader.peek($0) })
        #expect(header == FrameHeader(size: 11, type: MessageType.Tclunk.rawValue, tag: 0x0102))
        #expect(header.messageType == .Tclunk)
        #expect(Array(bytes.prefix(6)).withUnsafeBytes { FrameHeader.peek($0) } == nil)
        let shifted = [0, 0] + bytes
        #expect(shifted.withUnsafeBytes { FrameHeader.peek($0, at: 2) } == header)
        #expect(shifted.withUnsafeBytes { FrameHeader.peek($0, at: 7) } == nil)
    }

    @Test("7 ≤ size ≤ limit", arguments: [UInt32(0), 6, 8193, UInt32.max])
    func rejected(size: UInt32) {
        #expect(throws: WireError.badSize(size: size, limit: 8192)) {
            try FrameHeader(size: size, type: 100, tag: 0).validate(limit: 8192)
        }
    }

    @Test(arguments: [UInt32(7), 11, 8192])
    func accepted(size: UInt32) {
        #expect(throws: Never.self) { try FrameHeader(size: size, type: 100, tag: 0).validate(limit: 8192) }
    }
}
