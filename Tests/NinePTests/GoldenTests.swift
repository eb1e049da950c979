import Testing
import NineP

/// Frames written out by hand from the 9P manuals (intro(5), the 9P2000.u and 9P2000.L notes).
@Suite("Golden byte vectors")
struct GoldenTests {
    func check<M: FrameMessage>(_ frame: Frame<M>, _ bytes: [UInt8], _ dialect: Dialect) throws {
        #expect(frame.encode(dialect: dialect) == bytes)
        #expect(try Frame<M>.decode(bytes, dialect: dialect) == frame)
    }

    @Test func tversion() throws {
        let bytes: [UInt8] = [
            0x15, 0x00, 0x00, 0x00,  // size 21
            100,  // Tversion
            0xFF, 0xFF,  // NOTAG
            0x00, 0x20, 0x00, 0x00,  // msize 8192
            0x08, 0x00, 0x39, 0x50, 0x32, 0x30, 0x30, 0x30, 0x2E, 0x4C,  // "9P2000.L"
        ]
        try check(Frame(tag: NineP.noTag, message: TMessage.version(Tversion(msize: 8192, version: "9P2000.L"))), bytes, .linux)
    }

    @Test func rlerror() throws {
        let bytes: [UInt8] = [
            0x0B, 0x00, 0x00, 0x00,  // size 11
            7,  // Rlerror
            0x01, 0x00,  // tag 1
            0x02, 0x00, 0x00, 0x00,  // ENOENT
        ]
        try check(Frame(tag: 1, message: RMessage.lerror(Rlerror(ecode: 2))), bytes, .linux)
    }

    @Test func twalk() throws {
        let bytes: [UInt8] = [
            0x1B, 0x00, 0x00, 0x00,  // size 27
            110,  // Twalk
            0x03, 0x00,  // tag 3
            0x01, 0x00, 0x00, 0x00,  // fid 1
            0x02, 0x00, 0x00, 0x00,  // newfid 2
            0x02, 0x00,  // nwname 2
            0x03, 0x00, 0x75, 0x73, 0x72,  // "usr"
            0x03, 0x00, 0x62, 0x69, 0x6E,  // "bin"
        ]
        let frame = Frame(tag: 3, message: TMessage.walk(Twalk(fid: 1, newfid: 2, wnames: ["usr", "bin"])))
        for dialect in Dialect.allCases { try check(frame, bytes, dialect) }
    }

    @Test func tattachUnix() throws {
        let bytes: [UInt8] = [
            0x1D, 0x00, 0x00, 0x00,  // size 29
            104,  // Tattach
            0x01, 0x00,  // tag 1
            0x00, 0x00, 0x00, 0x00,  // fid 0
            0xFF, 0xFF, 0xFF, 0xFF,  // afid NOFID
            0x06, 0x00, 0x67, 0x6C, 0x65, 0x6E, 0x64, 0x61,  // "glenda"
            0x00, 0x00,  // aname ""
            0xE8, 0x03, 0x00, 0x00,  // n_uname 1000
        ]
        let frame = Frame(
            tag: 1, message: TMessage.attach(Tattach(fid: 0, afid: NineP.noFid, uname: "glenda", aname: "", nUname: 1000))
        )
        try check(frame, bytes, .unix)
        // The same request in 9P2000 has no n_uname: four bytes shorter.
        let plan9 = Frame(tag: 1, message: TMessage.attach(Tattach(fid: 0, afid: NineP.noFid, uname: "glenda", aname: "")))
        try check(plan9, Array(bytes.dropLast(4)).withSize(25), .plan9)
    }

    @Test func rerrorUnix() throws {
        let bytes: [UInt8] = [
            0x11, 0x00, 0x00, 0x00,  // size 17
            107,  // Rerror
            0x02, 0x00,  // tag 2
            0x04, 0x00, 0x6E, 0x6F, 0x70, 0x65,  // "nope"
            0x0D, 0x00, 0x00, 0x00,  // EACCES
        ]
        try check(Frame(tag: 2, message: RMessage.error(Rerror(ename: "nope", errno: 13))), bytes, .unix)
    }

    @Test func rread() throws {
        let bytes: [UInt8] = [
            0x0E, 0x00, 0x00, 0x00,  // size 14
            117,  // Rread
            0x04, 0x00,  // tag 4
            0x03, 0x00, 0x00, 0x00,  // count 3
            0x61, 0x62, 0x63,  // "abc"
        ]
        try check(Frame(tag: 4, message: RMessage.read(Rread(data: Array("abc".utf8)))), bytes, .plan9)
        #expect(bytes.count - 3 == NineP.rreadHeaderSize)
    }

    @Test func rstatPlan9() throws {
        let stat = Stat(
            type: 0, dev: 0, qid: Qid(type: 0, version: 0, path: 1), mode: 0o644, atime: 0, mtime: 0,
            length: 0, name: "a", uid: "u", gid: "g", muid: "m"
        )
        // stat: size[2] + 2+4+13+4+4+4+8 = 39 fixed bytes + 4 strings of 3 bytes = 53, so size 51, n 53.
        var bytes: [UInt8] = [0x3E, 0x00, 0x00, 0x00, 125, 0x05, 0x00]  // size 62, Rstat, tag 5
        bytes += [0x35, 0x00]  // n 53
        bytes += [0x33, 0x00]  // size 51
        bytes += [0x00, 0x00, 0x00, 0x00, 0x00, 0x00]  // type, dev
        bytes += [0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0]  // qid
        bytes += [0xA4, 0x01, 0x00, 0x00]  // mode 0644
        bytes += [UInt8](repeating: 0, count: 16)  // atime, mtime, length
        bytes += [0x01, 0x00, 0x61, 0x01, 0x00, 0x75, 0x01, 0x00, 0x67, 0x01, 0x00, 0x6D]  // a u g m
        try check(Frame(tag: 5, message: RMessage.stat(Rstat(stat: stat))), bytes, .plan9)
    }
}
