import Foundation
import NineP
import Pebble

/// Blue writes, Red commit: a fid that opens a regular file for writing holds its
/// writes and size changes in the gateway (`BlueFile`), answered at once; nothing reaches the
/// server until the client clunks or fsyncs the fid, when the gateway commits them with its own
/// requests (the client's Tclunk is answered after, with the commit's error if it failed). A
/// client that goes away, resets the session or removes the file first leaves the server's file
/// as it was (a PARTIAL_WRITE_ROLLBACK event says what was dropped). The fid reads its own writes
/// and sees its own size; every other fid sees the old file until the commit.
///
/// Requests on a fid whose commit is under way wait, whole, and are handled in order when it ends.
/// A fid past `--blue-max` (or whose writes would pass the byte quota) commits what it holds, and
/// its writes go through from then on (write-through).
///
/// On 9P2000 and 9P2000.u the same holds with their messages: a Twstat's length is the held size
/// change, Tstat shows the held size, and the commit resizes by Twstat (checked). A Topen's OTRUNC
/// is held (see `markPlan9BlueOpen`); the commit replaces the file atomically (`+BlueReplacePlan9`),
/// nothing streams, and a file a Tcreate made stays when the client dies (9P2000 has no exclusive
/// create to tell a new file).
extension ProxySession {
    struct BlueSettings: Equatable {
        /// Most bytes one fid holds before it commits and writes through.
        var maxPerFid = 64 << 20
        /// Files whose writes always go through (`--write-through`).
        var writeThrough = PathGlobRule(globs: [])
        /// Where held bytes past `memoryPerFid` go (`--blue-dir`, `BlueSpill`); nil: all in memory.
        var spillDirectory: String?
        /// Bytes one fid holds in memory before the rest go to a spill file (`--blue-memory`).
        var memoryPerFid = 1 << 20
    }

    /// What a Tlopen/Tlcreate for writing asked: the truncation it carried, held instead of sent.
    struct BlueOpen {
        var truncate: Bool
        /// A Tlcreate that makes the file (O_EXCL: the client's, or the gateway's own, added so it
        /// knows): a rollback removes the file.
        var creates = false
        /// The client's Tlcreate as it came, when the gateway added O_EXCL: if the file exists
        /// (EEXIST), it is sent again as the client sent it, and opens the file that is there.
        var asSent: [UInt8]?
        /// The file's path below the attach point (a Tlcreate's with the new name).
        var path: CapabilityPath?
        /// The open's access mode (O_WRONLY or O_RDWR): an atomic replace opens the new file so.
        var accessMode: UInt32 = 0
        /// The attach the fid descends from (`FidScope.attachID`).
        var attachID: UInt64 = 0
    }

    enum BlueReply {
        /// A read on a Blue fid: the reply's data is the server's with the held writes laid over it.
        case read(offset: UInt64, count: Int)
        /// A getattr on a Blue fid: the reply's size is the held one.
        case size
    }

    /// What the metrics count.
    enum BlueCounter {
        case heldWrite, commit, commitFailed, rollback, writeThrough, atomicReplace, staleTemporaryRemoved, spilled
    }

    /// One open file's Blue state, by its backend fid.
    struct BlueFid {
        var file = BlueFile()
        /// Where `file`'s bytes are once it spilled (`BlueSpill`).
        var spill: BlueSpill?
        /// The file's path below the attach point when it was opened: a size change through
        /// another fid of that path commits this fid first.
        var path: CapabilityPath?
        /// The file's qid path: a commit changes its data (reads made ahead of it stop counting).
        var qidPath: UInt64?
        /// The client fid, the open's access mode and attach: an atomic replace puts the client fid
        /// on the new file, opened the same way, made as the same user.
        var clientFid: UInt32 = 0
        var accessMode: UInt32 = 0
        var attachID: UInt64 = 0
        /// The fid made the file, and nothing of it is committed yet: a rollback removes it.
        var creates = false
        /// Past `--blue-max` or the quota: committed once, and writes go through from then on.
        var writeThrough = false
        var commit: BlueCommit?
        /// Past `--blue-max` the fid streams: its held writes went to the atomic replace's
        /// temporary, and its requests go there (the commit is then the rename). Its Twrites are
        /// forwarded as they come (spliced like any other), none of their bytes held.
        var stream: BlueReplace?
        /// Bytes written to the temporary while streaming (what a rollback drops).
        var streamedBytes = 0
        /// Client requests on the fid that came during its commit (client tag, whole frame).
        var deferred: [(tag: UInt16, frame: [UInt8])] = []
        /// The last commit's error, for the Tclunk or Tfsync that waited on it.
        var commitError: ProxyError?
    }

    /// A commit under way: its steps, sent a few at a time; a resize alone (the server may run
    /// requests in any order, and a resize must not pass a write).
    struct BlueCommit {
        let file: BlueFile
        /// Where `file`'s bytes are, if it spilled.
        var spill: BlueSpill?
        var steps: [BlueFile.CommitStep]
        /// The fid the steps go to: the file's own, or an atomic replace's temporary.
        var writeFid: UInt32
        /// An atomic replace under way (`ProxySession+BlueReplace`); nil: the steps apply in place.
        var replace: BlueReplace?
        /// This commit starts the fid streaming: its writes fill the temporary, which is not
        /// renamed yet (`enterStream`).
        var startsStream = false
        /// The commit of a streaming fid: the content is all in the temporary, so there is no
        /// going back to a commit in place.
        var streamed = false
        var next = 0
        var inFlight = 0
        var resizing = false
        var error: ProxyError?
        var done: Bool { inFlight == 0 && (error != nil || next == steps.count) }
    }

    /// 9P2000's open mode: the access bits (OWRITE, ORDWR) and ORCLOSE.
    static let plan9AccessMode: UInt8 = 0x3
    static let plan9RemoveOnClose: UInt8 = 0x40
    static let plan9Truncate: UInt8 = 0x10
    /// Where Topen's mode is.
    static let topenModeOffset = 11
    /// Where Twstat's and Rstat's length is.
    static let wstatLengthOffset = 46
    static let rstatLengthOffset = 42
    static let linuxAccessMode: UInt32 = 0o3
    static let linuxTruncate: UInt32 = 0o1000
    static let linuxAppend: UInt32 = 0o2000
    static let linuxExclusive: UInt32 = 0o200
    static let linuxEEXIST: UInt32 = 17
    /// Where Tlopen's flags are (Tlcreate's follow its name, which starts there).
    static let lopenFlagsOffset = 11
    /// Tsetattr's and Rgetattr's size bits, and where the size is in each frame.
    static let setattrSizeBit: UInt32 = 0x8
    static let setattrValidOffset = 11
    static let setattrSizeOffset = 27
    static let getattrSizeOffset = 56
    static let commitWindow = 4
    /// Held bytes past which a fid writing a file's whole content streams to its temporary.
    static let streamWholeAfter = 1 << 20

    // MARK: Opening

    /// Marks a Tlopen/Tlcreate that opens for writing (not appending) as one whose fid will hold
    /// its writes, and takes its O_TRUNC out of the frame: the truncation is held too.
    func markBlueOpen(_ request: inout PendingRequest, decoded: DecodedRequest, frame: UnsafeMutableRawBufferPointer) {
        guard let settings = access.blue, let dialect else { return }
        guard dialect == .linux else { return markPlan9BlueOpen(&request, decoded: decoded, frame: frame, settings: settings) }
        let flags: UInt32, flagsOffset: Int
        var path = request.scope?.path
        switch decoded.message {
        case let .lopen(open)?: (flags, flagsOffset) = (open.flags, Self.lopenFlagsOffset)
        case let .lcreate(create)?:
            (flags, flagsOffset) = (create.flags, Self.lopenFlagsOffset + 2 + create.name.bytes.count)
            path = path?.appending(String(decoding: create.name.bytes, as: UTF8.self))
        default: return
        }
        guard flags & Self.linuxAccessMode != 0, flags & Self.linuxAppend == 0 else { return }
        if let path, settings.writeThrough.matches(path) { return }
        var open = BlueOpen(truncate: flags & Self.linuxTruncate != 0)
        open.path = path
        open.accessMode = flags & Self.linuxAccessMode
        open.attachID = request.scope?.attachID ?? 0
        var sent = flags & ~Self.linuxTruncate
        if request.type == .Tlcreate, case let .client(tag) = request.origin {
            open.creates = true
            if flags & Self.linuxExclusive == 0 && !blueCreateAgain.contains(tag) {
                open.asSent = Array(UnsafeRawBufferPointer(frame))
                sent |= Self.linuxExclusive
            } else if flags & Self.linuxExclusive == 0 {
                open.creates = false
            }
        }
        if sent != flags { FramePatch.setU32(sent, at: flagsOffset, in: frame) }
        request.blueOpen = open
    }

    /// Topen/Tcreate (9P2000, 9P2000.u) for writing, not ORCLOSE. A Topen's OTRUNC is taken out
    /// and held, as on 9P2000.L: the commit replaces the file whole (`ProxySession+BlueReplace`),
    /// or, where it cannot, truncates by a Twstat of the length, checked (`plan9ResizeChecked`:
    /// the py9p server ignores that length). A Tcreate's file is the fid's whole content too, but
    /// it is not removed by a rollback (9P2000 has no exclusive create: it may have been there).
    private func markPlan9BlueOpen(_ request: inout PendingRequest, decoded: DecodedRequest, frame: UnsafeMutableRawBufferPointer,
                                   settings: BlueSettings) {
        var path = request.scope?.path
        let mode: UInt8
        switch decoded.message {
        case let .open(open)?: mode = open.mode
        case let .create(create)?:
            mode = create.mode
            path = path?.appending(String(decoding: create.name.bytes, as: UTF8.self))
        default: return
        }
        let access = mode & Self.plan9AccessMode
        guard access == 1 || access == 2, mode & Self.plan9RemoveOnClose == 0 else { return }
        if let path, settings.writeThrough.matches(path) { return }
        var open = BlueOpen(truncate: mode & Self.plan9Truncate != 0)
        if request.type == .Topen, open.truncate {
            frame.storeBytes(of: mode & ~Self.plan9Truncate, toByteOffset: Self.topenModeOffset, as: UInt8.self)
        }
        open.creates = request.type == .Tcreate
        open.path = path
        open.accessMode = UInt32(access)
        open.attachID = request.scope?.attachID ?? 0
        request.blueOpen = open
    }

    /// A size change the server is asked to make on `backendFid`, in the session's dialect.
    func resizeMessage(_ backendFid: UInt32, to size: UInt64) -> TMessage {
        guard dialect == .linux else { return .wstat(Twstat(fid: backendFid, stat: .unchanged(length: size))) }
        return .setattr(Tsetattr(fid: backendFid, valid: Self.setattrSizeBit, mode: 0, uid: 0, gid: 0, size: size,
                                 atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0))
    }

    /// The reply to a Tlcreate the gateway sent with O_EXCL added: when the file was there
    /// (EEXIST), the client's Tlcreate is handled again as it came (without O_EXCL), which opens
    /// it. True when so (the reply is not the client's).
    func createAgainIfItExisted(_ request: PendingRequest, header: FrameHeader, frame: UnsafeRawBufferPointer) -> Bool {
        // Not when the client flushed it: its reply may come before the Rflush, never after.
        guard var asSent = request.blueOpen?.asSent, case let .client(tag) = request.origin, !request.abandoned,
              flushOfTarget[header.tag] == nil, header.type == MessageType.Rlerror.rawValue, frame.count >= 11, FramePatch.u32(at: 7, in: frame) == Self.linuxEEXIST
        else { return false }
        blueCreateAgain.insert(tag)
        asSent.withUnsafeMutableBytes { _ = clientFrame($0, replayed: true) }
        blueCreateAgain.remove(tag)
        return true
    }

    /// A Tlopen/Tlcreate for writing succeeded: a regular file's fid holds its writes from now on.
    /// On anything else a truncation taken out of the request is made now.
    func openedForWriting(_ open: BlueOpen, clientFid: UInt32, backendFid: UInt32, qid: Qid?) {
        guard let qid, qid.type == 0 else {
            if open.truncate { sendOwn(resizeMessage(backendFid, to: 0)) { _ in } }
            return
        }
        var state = BlueFid()
        state.path = open.path
        state.qidPath = qid.path
        state.creates = open.creates
        (state.clientFid, state.accessMode, state.attachID) = (clientFid, open.accessMode, open.attachID)
        if open.truncate { state.file.resize(to: 0) }
        blue[backendFid] = state
    }

    /// Whether the client's Twrite in `frame` (its head) is to a fid that holds its writes: its
    /// data must then come into the gateway, never be spliced past it.
    func holdsWrites(_ frame: UnsafeRawBufferPointer) -> Bool {
        guard !blue.isEmpty, frame.count >= 11, let record = fids.lookup(FramePatch.u32(at: 7, in: frame)),
              let state = blue[record.backendFid] else { return false }
        // A streaming fid's writes are spliced like any other (a client that dies in the middle of
        // one leaves its temporary to the next commit in the directory: `OrphanedTemporaries`).
        return state.commit != nil || (state.stream == nil && !state.writeThrough)
    }

    // MARK: Requests on a Blue fid

    enum BlueAction {
        /// Handled here (answered, or waiting for a commit).
        case handled
        /// Goes to the server, its reply amended as said, or answered with the commit's error.
        case forward(BlueReply?, answerInstead: ProxyError?)
        /// Goes to the server on this backend fid instead: a streaming fid's temporary.
        case redirect(UInt32)
    }

    /// A client request on `backendFid`, which holds Blue state, after the policy let it through.
    /// `readCount`: a Tread's count as the policy left it (cut to what a reply within msize
    /// carries): a read answered from what the fid holds must never make a larger reply.
    func blueRequest(_ frame: UnsafeMutableRawBufferPointer, decoded: DecodedRequest, readCount: UInt32?, tag: UInt16,
                     backendFid: UInt32, partial: Bool) -> BlueAction {
        // The state is changed in place in `blue`, never through a copy: a copy would share the
        // held bytes, and the first change would then copy them all.
        guard let (committing, writeThrough, held) = blue[backendFid].map({ ($0.commit != nil, $0.writeThrough, $0.file.byteCount) })
        else { return .forward(nil, answerInstead: nil) }
        if committing {
            deferBlue(frame, tag: tag, backendFid: backendFid)
            return .handled
        }
        if let stream = blue[backendFid]?.stream {
            switch decoded.type {
            case .Tclunk, .Tfsync:
                deferBlue(frame, tag: tag, backendFid: backendFid)
                commitStream(backendFid)
                return .handled
            case .Tremove:
                rollbackBlue(backendFid, reason: "the file was removed")
                blue[backendFid] = nil
                return .forward(nil, answerInstead: nil)
            case .Twrite:
                blue[backendFid]?.streamedBytes &+= Int(decoded.count ?? 0)
                host.blueCounted(.heldWrite)
            default:
                break
            }
            return .redirect(stream.tempFid)
        }
        if writeThrough {
            // Committed once; everything goes to the server from now on.
            let error = blue[backendFid]?.commitError
            blue[backendFid]?.commitError = nil
            if decoded.type == .Tclunk || decoded.type == .Tremove { blue[backendFid] = nil }
            return .forward(nil, answerInstead: [.Tclunk, .Tfsync].contains(decoded.type) ? error : nil)
        }
        switch decoded.type {
        case .Twrite:
            guard let offset = decoded.offset, let count = decoded.count else { break }
            // Only a write `splicesIntoSpill` took comes as a head: its data goes to the spill file.
            if partial {
                return holdSpliced(backendFid, tag: tag, offset: offset, count: Int(count),
                                   arrived: UnsafeRawBufferPointer(rebasing: frame[NineP.twriteHeaderSize...]))
            }
            guard BlueFile.fits(offset: offset, count: Int(count)) else {
                refuse(ProxyError(errno: 27, message: "File too large"), tag: tag, subject: nil)
                return .handled
            }
            if let state = blue[backendFid], held &+ Int(count) > streamsPast(state), startStream(backendFid) {
                // What is held goes to the temporary, and this write and the next after it.
                deferBlue(frame, tag: tag, backendFid: backendFid)
                return .handled
            }
            if held &+ Int(count) > (access.blue?.maxPerFid ?? 0) || !blueFits(Int(count)) {
                // Too much to hold: what is held is committed, and this write and the next go through
                // (this one after the commit; at once when nothing is held).
                blue[backendFid]?.writeThrough = true
                host.blueCounted(.writeThrough)
                startCommit(backendFid)
                guard blue[backendFid]?.commit != nil else { return .forward(nil, answerInstead: nil) }
                deferBlue(frame, tag: tag, backendFid: backendFid)
                return .handled
            }
            let data = UnsafeRawBufferPointer(rebasing: frame[NineP.twriteHeaderSize...])
            if let error = spillHeld(backendFid, data, at: offset) {
                refuse(error.proxyError, tag: tag, subject: nil)
                return .handled
            }
            blue[backendFid]?.file.write(data, at: offset)
            blueBytes &+= (blue[backendFid]?.file.byteCount ?? held) &- held
            host.blueCounted(.heldWrite)
            sendToClient(.write(Rwrite(count: count)), tag: tag)
            return .handled
        case .Tread:
            guard let offset = decoded.offset, let count = readCount, let state = blue[backendFid] else { break }
            if !state.file.needsServer(offset: offset, count: Int(count)) {
                guard let data = Self.heldRead([(state.file, state.spill)], at: offset, count: Int(count), server: []) else {
                    refuse(SpillError.unreadable.proxyError, tag: tag, subject: nil)
                    return .handled
                }
                sendToClient(.read(Rread(data: data)), tag: tag)
                return .handled
            }
            return .forward(.read(offset: offset, count: Int(count)), answerInstead: nil)
        case .Tgetattr, .Tstat:
            return .forward(.size, answerInstead: nil)
        case .Twstat:
            guard case let .wstat(wstat)? = decoded.message else { break }
            if wstat.stat.length != .max {
                blue[backendFid]?.file.resize(to: wstat.stat.length)
                blueBytes &+= (blue[backendFid]?.file.byteCount ?? held) &- held
                guard !wstat.stat.changesOnlyLength else {
                    sendToClient(.wstat(Rwstat()), tag: tag)
                    return .handled
                }
                FramePatch.setU64(.max, at: Self.wstatLengthOffset, in: frame)
            } else if wstat.stat.changesOnlyLength, blue[backendFid]?.file.isEmpty == false {
                // A wstat that changes nothing asks for the file on stable storage: a commit, then it goes.
                // Deferred first: a commit with nothing to send ends at once, and replays what waits.
                deferBlue(frame, tag: tag, backendFid: backendFid)
                startCommit(backendFid)
                return .handled
            }
        case .Tsetattr:
            let valid = FramePatch.u32(at: Self.setattrValidOffset, in: UnsafeRawBufferPointer(frame))
            guard valid & Self.setattrSizeBit != 0 else { break }
            blue[backendFid]?.file.resize(to: FramePatch.u64(at: Self.setattrSizeOffset, in: UnsafeRawBufferPointer(frame)))
            blueBytes &+= (blue[backendFid]?.file.byteCount ?? held) &- held
            let rest = valid & ~Self.setattrSizeBit
            guard rest != 0 else {
                sendToClient(.setattr(Rsetattr()), tag: tag)
                return .handled
            }
            FramePatch.setU32(rest, at: Self.setattrValidOffset, in: frame)
        case .Tfsync, .Tclunk:
            if blue[backendFid]?.file.isEmpty == false {
                // Deferred first: a commit with nothing to send ends at once, and replays what waits.
                deferBlue(frame, tag: tag, backendFid: backendFid)
                startCommit(backendFid)
                return .handled
            }
            // Committed (or nothing held): the request goes, with the commit's error if it failed.
            let error = blue[backendFid]?.commitError
            blue[backendFid]?.commitError = nil
            if decoded.type == .Tclunk { blue[backendFid] = nil }
            return .forward(nil, answerInstead: error)
        case .Tremove:
            rollbackBlue(backendFid, reason: "the file was removed")
            blue[backendFid] = nil
        default:
            break
        }
        return .forward(nil, answerInstead: nil)
    }

    /// Held bytes past which a fid streams to its temporary. A fid whose writes are the file's
    /// whole content (it created the file or truncated it to nothing) streams once it holds
    /// `streamWholeAfter`: its temporary needs no copy, and the client's writes wait only while a
    /// little is flushed. An edit streams past --blue-max (its temporary starts with a copy of the file).
    func streamsPast(_ state: BlueFid) -> Int {
        let maxPerFid = access.blue?.maxPerFid ?? 0
        return state.creates || state.file.cut == 0 ? min(maxPerFid, Self.streamWholeAfter) : maxPerFid
    }

    /// Whether `count` more bytes may be held: within the byte quota (taken from it), or without
    /// one within four fids' worth (`4 × --blue-max`) for the session.
    func blueFits(_ count: Int) -> Bool {
        guard quota != nil else { return blueBytes &+ count <= 4 &* (access.blue?.maxPerFid ?? 0) }
        return admitBytes(count, type: .Twrite) == nil
    }

    /// A Tsetattr of the size through a fid that holds nothing, of a file another fid of the
    /// session holds writes for (the same path, or the same qid: another name of it): that fid
    /// commits first, and the size change waits for it, so it applies after the writes the client
    /// already saw answered. The holder's backend fid, or nil.
    func blueHolder(ofSizeChange frame: UnsafeRawBufferPointer, subject: ClientFid) -> UInt32? {
        let changesSize = dialect == .linux ? FramePatch.u32(at: Self.setattrValidOffset, in: frame) & Self.setattrSizeBit != 0
            : frame.count >= Self.wstatLengthOffset + 8 && FramePatch.u64(at: Self.wstatLengthOffset, in: frame) != .max
        guard changesSize else { return nil }
        let (path, qidPath) = (subject.scope?.path, subject.qidPath)
        guard path != nil || qidPath != nil else { return nil }
        return blue.first { held in
            let same = (path != nil && held.value.path == path) || (qidPath != nil && held.value.qidPath == qidPath)
            return same && (held.value.commit != nil || !held.value.file.isEmpty || held.value.stream != nil)
        }?.key
    }

    /// A request that waits for its fid's commit: its frame is kept whole and handled when the
    /// commit ends; its tag stays in use, and a Tflush of it drops it.
    func deferBlue(_ frame: UnsafeMutableRawBufferPointer, tag: UInt16, backendFid: UInt32) {
        blue[backendFid]?.deferred.append((tag, Array(UnsafeRawBufferPointer(frame))))
        blueDeferredTags.insert(tag)
        blueBytes &+= frame.count
        blueDeferredBytes &+= frame.count
    }

    /// A Tflush of a request waiting for a commit: it is dropped, never happens. False if none is.
    func flushDeferred(clientTag: UInt16) -> Bool {
        guard blueDeferredTags.contains(clientTag),
              let (backendFid, state) = blue.first(where: { $0.value.deferred.contains { $0.tag == clientTag } }),
              let index = state.deferred.firstIndex(where: { $0.tag == clientTag }) else { return false }
        blueBytes &-= state.deferred[index].frame.count
        blueDeferredBytes &-= state.deferred[index].frame.count
        blue[backendFid]?.deferred.remove(at: index)
        blueDeferredTags.remove(clientTag)
        return true
    }

    // MARK: Rollback

    /// Drops what `backendFid` holds, never sent: a PARTIAL_WRITE_ROLLBACK event says how much.
    /// `removeCreated`: a file the fid created is removed by the session's cleanup (its end or
    /// reset), with a Tremove in place of the Tclunk.
    func rollbackBlue(_ backendFid: UInt32, reason: String, removeCreated: Bool = false) {
        // A fid starting to stream is rolled back when its temporary is filled (`enterStream`).
        guard var state = blue[backendFid], state.commit?.startsStream != true else { return }
        let stream = state.commit == nil ? state.stream : nil
        if let stream {
            // What was streamed is in the temporary: it goes at once, or with the session's cleanup;
            // if the server's connection cannot be used for that (the client left in the middle of
            // a spliced Twrite), the next commit in the directory removes it.
            if removeCreated {
                host.temporaryOrphaned(stream.tempName)
                blueRemoveAtCleanup.insert(stream.tempFid)
                if let nameFid = stream.nameFid { blueRemoveAtCleanup.remove(nameFid) }
            } else {
                dropReplace(stream)
            }
            state.stream = nil
        }
        // Only a Tlcreate with O_EXCL tells a file the fid made (9P2000 has no exclusive create).
        let made = state.creates && dialect == .linux
        if stream != nil || !state.file.isEmpty || made {
            // Not while a commit the client asked for is under way: that commit stands.
            let removes = made && removeCreated && state.commit == nil
            let dropped = stream != nil ? "\(state.streamedBytes &+ state.file.byteCount) bytes written to a temporary"
                : "\(state.file.byteCount) bytes in \(state.file.extents.count) extents\(state.file.cut.map { ", a truncation to \($0)" } ?? "")"
            host.audit(AuditEvent(kind: .partialWriteRollback,
                                  detail: "\(dropped) dropped\(removes ? ", the file it created removed" : ""): \(reason)"))
            host.blueCounted(.rollback)
            blueBytes &-= state.file.byteCount
            if removes { blueRemoveAtCleanup.insert(backendFid) }
        }
        state.creates = false
        state.file = BlueFile()
        state.spill = nil
        forgetDeferred(state.deferred)
        state.deferred = []
        blue[backendFid] = state
    }

    /// The client went away or reset the session: every fid's held writes are dropped. A commit
    /// already under way (the client asked for it) finishes.
    func rollbackAllBlue(reason: String) {
        for backendFid in blue.keys.sorted() {
            rollbackBlue(backendFid, reason: reason, removeCreated: true)
            if blue[backendFid]?.commit == nil { blue[backendFid] = nil }
        }
    }

    // MARK: Replies

    /// Amends the server's reply to a request on a Blue fid: a read's data overlaid with what the
    /// fid holds (and what its commit under way does), a getattr's size. Returns the frame to send
    /// instead, or nil to pass the reply on as it came (with the size patched in place).
    func amendBlueReply(_ frame: UnsafeMutableRawBufferPointer, header: FrameHeader, request: PendingRequest) -> [UInt8]? {
        guard let amend = request.blueReply, let backendFid = request.usedBackendFids.first, let state = blue[backendFid] else { return nil }
        let layers = (state.commit.map { [($0.file, $0.spill)] } ?? []) + [(state.file, state.spill)]
        switch amend {
        case let .read(offset, count):
            guard header.type == MessageType.Rread.rawValue, frame.count >= NineP.rreadHeaderSize else { return nil }
            let returned = min(Int(FramePatch.u32(at: 7, in: UnsafeRawBufferPointer(frame))), frame.count &- NineP.rreadHeaderSize)
            let server = Array(UnsafeRawBufferPointer(rebasing: frame[NineP.rreadHeaderSize..<(NineP.rreadHeaderSize + returned)]))
            guard let data = Self.heldRead(layers, at: offset, count: count, server: server) else {
                return SpillError.unreadable.proxyError.reply(tag: header.tag, dialect: dialect ?? .linux)
            }
            return Frame(tag: header.tag, message: RMessage.read(Rread(data: data))).encode(dialect: dialect ?? .linux)
        case .size:
            let offset = header.type == MessageType.Rstat.rawValue ? Self.rstatLengthOffset : Self.getattrSizeOffset
            guard header.type == MessageType.Rgetattr.rawValue || header.type == MessageType.Rstat.rawValue, frame.count >= offset + 8
            else { return nil }
            var size = FramePatch.u64(at: offset, in: UnsafeRawBufferPointer(frame))
            for layer in layers { size = layer.0.size(serverSize: size) }
            FramePatch.setU64(size, at: offset, in: frame)
            return nil
        }
    }
}
