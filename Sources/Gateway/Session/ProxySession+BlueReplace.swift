import Foundation
import NineP
import Pebble

/// Atomic replace: a Blue fid's commit writes the file's new content to a hidden temporary
/// sibling (`BlueTemporary`), gives it the old file's mode and owner, and renames it over the file
/// (Trename: diod has no Trenameat). Every other reader sees the old file or the new one, never a
/// part of it, whatever dies meanwhile: a temporary left behind by a crash is removed by a later
/// commit in that directory. The client's fid then stands for the new file, opened as the client
/// opened the old one (whose backend fid, open on the file that was replaced, is clunked).
/// (The rename is made through a fid of its own: see `rename`.)
///
/// When the fid created the file or truncated it to nothing, the held writes are the whole
/// content. An edit in place (no truncation to nothing) of a file up to `--blue-max` copies the
/// old content into the temporary first (read through a fid of its own), then applies the held
/// changes; just before the rename the file's name is checked to still stand for the same file,
/// unchanged (qid, size, mtime): if another writer changed it meanwhile, the temporary is dropped
/// and the commit applies in place over that writer's change, so neither is lost.
///
/// The gateway walks to the directory from a directory fid of the same attach (the client's
/// root, usually), so the temporary is made as the same user. Without one, or when the server
/// refuses a step before the rename (not a regular file, more than one link, the temporary cannot
/// be made or given the owner, the rename itself), the commit applies in place, in offset order,
/// as for any other edit; a failed write removes the temporary and fails the commit, the file as
/// it was.
extension ProxySession {
    struct BlueReplace {
        /// Walked to the directory, then made the temporary by Tlcreate: the writes go to it.
        let tempFid: UInt32
        /// Another fid on the directory: Trename's target, then the stale temporaries' sweep's.
        let directoryFid: UInt32
        let tempName: String
        let targetName: String
        let directory: CapabilityPath
        /// Answers awaited before the temporary is made: the old file's attributes and two walks.
        var awaited = 0
        var attributes: Rgetattr?
        /// 9P2000/.u: the old file's stat, in place of `attributes`.
        var oldStat: Stat?
        var walked: Set<UInt32> = []
        /// The temporary exists: whatever fails from now on removes it.
        var created = false
        /// An edit in place: a fid opened on the old file to read it, and the copy's progress
        /// (bytes below `copyEnd` are copied, from `copyNext` on in order).
        var readFid: UInt32?
        /// An edit in place (the old content copied first): checked just before the rename.
        var isEdit = false
        var copyEnd: UInt64 = 0
        var copyNext: UInt64 = 0
        var copyInFlight = 0
        var copyFailed = false
        /// Walked to the temporary for the rename (see `rename`).
        var nameFid: UInt32?
    }

    /// Tgetattr's basic mask (mode, nlink, owner, size, times …); Tsetattr's valid bits for mode, uid, gid.
    static let getattrBasic: UInt64 = 0x7ff
    static let setattrModeOwner: UInt32 = 0x1 | 0x2 | 0x4
    static let linuxCreate: UInt32 = 0o100
    static let fileTypeMask: UInt32 = 0o170000, regularFile: UInt32 = 0o100000

    /// Starts an atomic replace for `backendFid`'s commit. False, with nothing sent, when there
    /// is no directory fid to walk from: the commit then applies in place.
    func startReplace(_ backendFid: UInt32) -> Bool {
        guard let dialect, let state = blue[backendFid], let path = state.path, let targetName = path.names.last else { return false }
        let directory = CapabilityPath(names: Array(path.names.dropLast()))
        let wholeContent = state.creates || state.commit?.file.cut == 0
        // Noted once, when the server refused: it does not rename over an existing file.
        if dialect != .linux && blueRenameRefused { return false }
        guard let origin = walkOrigin(to: directory, attachID: state.attachID) else {
            host.blueNote("commit in place: no directory fid of the attach to walk from", path: "\(path)")
            return false
        }
        let names = directory.names.dropFirst(origin.depth).map { WireString($0) }
        var replace = BlueReplace(tempFid: newBackendFid(), directoryFid: newBackendFid(),
                                  tempName: BlueTemporary.name(UInt64.random(in: 0...UInt64.max)), targetName: targetName, directory: directory)
        if !wholeContent { (replace.readFid, replace.isEdit) = (newBackendFid(), true) }
        blue[backendFid]?.commit?.replace = replace
        let attributes: TMessage = dialect == .linux ? .getattr(Tgetattr(fid: backendFid, requestMask: Self.getattrBasic)) : .stat(Tstat(fid: backendFid))
        var asks: [(TMessage, UInt32?, Int)] = [(attributes, nil, 0),
                                                (.walk(Twalk(fid: origin.backendFid, newfid: replace.tempFid, wnames: names)), replace.tempFid, names.count),
                                                (.walk(Twalk(fid: origin.backendFid, newfid: replace.directoryFid, wnames: names)), replace.directoryFid, names.count)]
        if let readFid = replace.readFid {
            asks.append((.walk(Twalk(fid: origin.backendFid, newfid: readFid, wnames: names + [WireString(targetName)])), readFid, names.count + 1))
        }
        for (message, creates, depth) in asks {
            let sent = sendOwn(message, creates: creates, commitStep: true) { [unowned self] reply in
                replacePrepared(backendFid) { replace in
                    switch reply {
                    case let .getattr(attributes)?: replace.attributes = attributes
                    case let .stat(answer)?: replace.oldStat = answer.stat
                    case let .walk(walk)? where walk.wqids.count == depth: if let creates { replace.walked.insert(creates) }
                    default: break
                    }
                }
            }
            if sent { replace.awaited += 1 }
        }
        blue[backendFid]?.commit?.replace?.awaited = replace.awaited
        if replace.awaited < asks.count { replacePrepared(backendFid, answered: 0) { _ in } }
        return true
    }

    /// A directory fid the gateway may walk from to reach `directory` as attach `attachID`: ready,
    /// not open (nor being opened), at `directory` or above it, the nearest. Its backend fid and
    /// how many of `directory`'s names it is already down.
    func walkOrigin(to directory: CapabilityPath, attachID: UInt64) -> (backendFid: UInt32, depth: Int)? {
        var best: (backendFid: UInt32, depth: Int)?
        for record in fids.clientFids.values where record.state == .ready && record.kind == .plain && record.isDirectory {
            guard let scope = record.scope, scope.attachID == attachID, directory.isInside(scope.path),
                  kindChanging[record.backendFid] == nil, scope.path.names.count >= best?.depth ?? 0 else { continue }
            best = (record.backendFid, scope.path.names.count)
        }
        return best
    }

    /// One of the replace's first answers came (`update` notes it); once all have, the temporary
    /// is made, or the replace given up for a commit in place.
    func replacePrepared(_ backendFid: UInt32, answered: Int = 1, _ update: (inout BlueReplace) -> Void) {
        guard var replace = blue[backendFid]?.commit?.replace else { return }
        update(&replace)
        replace.awaited -= answered
        blue[backendFid]?.commit?.replace = replace
        guard replace.awaited == 0 else { return }
        if dialect != .linux { return plan9ReplacePrepared(backendFid) }
        guard replace.walked.count == (replace.readFid == nil ? 2 : 3), let attributes = replace.attributes else {
            return abandonReplace(backendFid, because: "the directory or the file's attributes could not be reached")
        }
        guard attributes.mode & Self.fileTypeMask == Self.regularFile, attributes.nlink == 1 else {
            return abandonReplace(backendFid, because: "not a regular file with one link (a rename would break the others)")
        }
        guard editCopyPlanned(backendFid, oldSize: attributes.size) else { return }
        let accessMode = blue[backendFid]?.accessMode ?? 1
        let create = Tlcreate(fid: replace.tempFid, name: WireString(replace.tempName), flags: accessMode | Self.linuxCreate | Self.linuxExclusive,
                              mode: attributes.mode & 0o7777, gid: attributes.gid)
        replaceStep(backendFid, .lcreate(create)) { [unowned self] reply in
            guard case .lcreate? = reply else { return abandonReplace(backendFid, because: "the temporary could not be made") }
            blue[backendFid]?.commit?.replace?.created = true
            // The mode again: the server's umask may have taken bits from the create's.
            let owner = Tsetattr(fid: replace.tempFid, valid: Self.setattrModeOwner, mode: attributes.mode & 0o7777, uid: attributes.uid,
                                 gid: attributes.gid, size: 0, atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0)
            replaceStep(backendFid, .setattr(owner)) { [unowned self] reply in
                guard case .setattr? = reply else { return abandonReplace(backendFid, because: "the temporary could not be given the file's mode and owner") }
                blue[backendFid]?.commit?.writeFid = replace.tempFid
                guard let readFid = replace.readFid else { return pumpCommit(backendFid) }
                replaceStep(backendFid, .lopen(Tlopen(fid: readFid, flags: 0))) { [unowned self] reply in
                    guard case .lopen? = reply else { return abandonReplace(backendFid, because: "the file could not be opened to copy it") }
                    pumpCopy(backendFid)
                }
            }
        }
    }

    /// An edit in place: copies the old content into the temporary, a few reads (each written
    /// when it comes) at a time, then the held changes follow as the commit's steps.
    func pumpCopy(_ backendFid: UInt32) {
        guard var replace = blue[backendFid]?.commit?.replace, let readFid = replace.readFid else { return }
        let chunk = UInt64(backendIOUnit)
        while !replace.copyFailed, replace.copyNext < replace.copyEnd, replace.copyInFlight < Self.commitWindow {
            let offset = replace.copyNext, count = min(chunk, replace.copyEnd - offset)
            replace.copyNext += count
            replace.copyInFlight += 1
            blue[backendFid]?.commit?.replace = replace
            replaceStep(backendFid, .read(Tread(fid: readFid, offset: offset, count: UInt32(count)))) { [unowned self] reply in
                guard case let .read(read)? = reply, read.data.count == Int(count) else { return copied(backendFid, failed: true) }
                replaceStep(backendFid, .write(Twrite(fid: replace.tempFid, offset: offset, data: read.data))) { [unowned self] reply in
                    guard case let .write(written)? = reply, Int(written.count) == read.data.count else { return copied(backendFid, failed: true) }
                    copied(backendFid, failed: false)
                }
            }
            replace = blue[backendFid]?.commit?.replace ?? replace
        }
        if !replace.copyFailed, replace.copyInFlight == 0, replace.copyNext >= replace.copyEnd { pumpCommit(backendFid) }
    }

    /// One piece of the copy is done: the next goes, or with the copy over, the held changes
    /// (or, if a piece failed, the replace is given up: the file changed, or the server failed).
    private func copied(_ backendFid: UInt32, failed: Bool) {
        guard var replace = blue[backendFid]?.commit?.replace else { return }
        replace.copyInFlight -= 1
        replace.copyFailed = replace.copyFailed || failed
        blue[backendFid]?.commit?.replace = replace
        if replace.copyFailed {
            if replace.copyInFlight == 0 { abandonReplace(backendFid, because: "the old content could not be copied") }
            return
        }
        pumpCopy(backendFid)
    }

    /// Sends one step of the replace, a commit step (it finishes even if the client goes); when it
    /// cannot be sent, `then` gets nil at once.
    func replaceStep(_ backendFid: UInt32, _ message: TMessage, releases: UInt32? = nil, then: @escaping (RMessage?) -> Void) {
        if !sendOwn(message, releases: releases, commitStep: true, then: then) { then(nil) }
    }

    /// The writes to the temporary are done: it is renamed over the file, or, if a write failed,
    /// removed (the commit fails, the file as it was).
    func replaceWritten(_ backendFid: UInt32) {
        guard let commit = blue[backendFid]?.commit, let replace = commit.replace else { return }
        guard commit.error == nil else {
            dropReplace(replace)
            blue[backendFid]?.commit?.replace = nil
            return finishCommit(backendFid)
        }
        if commit.startsStream { return enterStream(backendFid) }
        if dialect != .linux, let readFid = replace.readFid {
            // The copy is made: its fid goes now, before the file is renamed over and reopened
            // (the py9p server's fids on one name share one open file, which a clunk closes).
            sendOwn(.clunk(Tclunk(fid: readFid)), releases: readFid, commitStep: true) { _ in }
            blue[backendFid]?.commit?.replace?.readFid = nil
        }
        // A streamed edit is not checked: its copy was made when it began, and it is the last writer.
        guard !commit.streamed, replace.isEdit else { return rename(backendFid) }
        // An edit in place: the name must still stand for the file that was copied, unchanged.
        let checkFid = newBackendFid()
        let walk = Twalk(fid: replace.directoryFid, newfid: checkFid, wnames: [WireString(replace.targetName)])
        let sent = sendOwn(.walk(walk), creates: checkFid, commitStep: true) { [unowned self] reply in
            guard case let .walk(walked)? = reply, walked.wqids.count == 1 else {
                return abandonReplace(backendFid, because: "the file's name is gone")
            }
            let ask: TMessage = dialect == .linux ? .getattr(Tgetattr(fid: checkFid, requestMask: Self.getattrBasic)) : .stat(Tstat(fid: checkFid))
            replaceStep(backendFid, ask) { [unowned self] reply in
                sendOwn(.clunk(Tclunk(fid: checkFid)), releases: checkFid, commitStep: true) { _ in }
                guard Self.unchanged(reply, since: replace) else {
                    return abandonReplace(backendFid, because: "another writer changed the file during the commit")
                }
                rename(backendFid)
            }
        }
        if !sent { abandonReplace(backendFid, because: "the check before the rename could not be sent") }
    }

    /// Whether the file's attributes now (`reply`) are those it had when it was copied: the same
    /// file (qid), size and mtime.
    static func unchanged(_ reply: RMessage?, since replace: BlueReplace) -> Bool {
        switch (reply, replace.attributes, replace.oldStat) {
        case let (.getattr(now)?, before?, _):
            now.qid.path == before.qid.path && now.size == before.size && now.mtimeSec == before.mtimeSec && now.mtimeNsec == before.mtimeNsec
        case let (.stat(now)?, _, before?):
            now.stat.qid.path == before.qid.path && now.stat.length == before.length && now.stat.mtime == before.mtime
        default:
            false
        }
    }

    /// The rename goes through a fid of its own, walked to the temporary, never the open one:
    /// diod 1.0.24 keeps an open file's state with its fid's path and aborts (an assertion in
    /// `_path_free`) when a rename moves an open fid to another path. That fid, at the file's name
    /// then, is opened as the client opened the old file and becomes the client fid's backend fid:
    /// diod's getattr and setattr go by the fid's path, its reads and writes by the open file, and
    /// both must be the new file.
    private func rename(_ backendFid: UInt32) {
        guard let replace = blue[backendFid]?.commit?.replace else { return }
        let nameFid = newBackendFid()
        let walk = Twalk(fid: replace.directoryFid, newfid: nameFid, wnames: [WireString(replace.tempName)])
        let sent = sendOwn(.walk(walk), creates: nameFid, commitStep: true) { [unowned self] reply in
            guard case let .walk(walked)? = reply, walked.wqids.count == 1 else {
                return abandonReplace(backendFid, because: "the temporary could not be walked to")
            }
            blue[backendFid]?.commit?.replace?.nameFid = nameFid
            if dialect != .linux { return plan9Rename(backendFid, nameFid: nameFid) }
            replaceStep(backendFid, .rename(Trename(fid: nameFid, dfid: replace.directoryFid, name: WireString(replace.targetName)))) {
                [unowned self] reply in
                guard case .rename? = reply else { return abandonReplace(backendFid, because: "the server refused the rename") }
                let accessMode = blue[backendFid]?.accessMode ?? 1
                replaceStep(backendFid, .lopen(Tlopen(fid: nameFid, flags: accessMode))) { [unowned self] reply in
                    if case .lopen? = reply { return replaced(backendFid, newFid: nameFid) }
                    host.blueNote("replaced, but the new file could not be opened for the client fid, which stays on the old one",
                                  path: "\(replace.directory.appending(replace.targetName))")
                    sendOwn(.clunk(Tclunk(fid: nameFid)), releases: nameFid, commitStep: true) { _ in }
                    replaced(backendFid, newFid: nil)
                }
            }
        }
        if !sent { abandonReplace(backendFid, because: "the rename could not be sent") }
    }

    /// The new content has the file's name: the client fid moves to `newFid` (opened on it), the
    /// old backend fid and the temporary's open fid are clunked, and the directory's stale
    /// temporaries are looked for (once per session).
    func replaced(_ backendFid: UInt32, newFid: UInt32?) {
        guard var state = blue[backendFid], let replace = state.commit?.replace else { return }
        sendOwn(.clunk(Tclunk(fid: replace.tempFid)), releases: replace.tempFid, commitStep: true) { _ in }
        if let readFid = replace.readFid { sendOwn(.clunk(Tclunk(fid: readFid)), releases: readFid, commitStep: true) { _ in } }
        state.commit?.replace = nil
        var holder = backendFid
        if let newFid {
            sendOwn(.clunk(Tclunk(fid: backendFid)), releases: backendFid, commitStep: true) { _ in }
            fids.rebind(clientFid: state.clientFid, from: backendFid, to: newFid)
            blue[backendFid] = nil
            holder = newFid
        }
        blue[holder] = state
        host.blueCounted(.atomicReplace)
        finishCommit(holder)
        sweepTemporaries(in: replace, attachID: state.attachID)
    }

    // MARK: Streaming

    /// Past `--blue-max`: the fid's held writes go to a temporary (made as for a replace), and
    /// from then on its requests go there. False, with nothing changed, when there is no directory
    /// fid to walk from (the fid then commits in place and writes through, as before streaming).
    func startStream(_ backendFid: UInt32) -> Bool {
        guard dialect == .linux, var state = blue[backendFid], state.commit == nil, !state.writeThrough else { return false }
        let (held, spill) = (state.file, state.spill)
        var commit = BlueCommit(file: held, spill: spill, steps: held.commitPlan(maxWrite: Int(backendIOUnit)), writeFid: backendFid)
        commit.startsStream = true
        state.commit = commit
        state.file = BlueFile()
        state.spill = nil
        blue[backendFid] = state
        if startReplace(backendFid) { return true }
        blue[backendFid]?.commit = nil
        blue[backendFid]?.file = held
        blue[backendFid]?.spill = spill
        return false
    }

    /// The temporary holds what was held: the fid streams from now on, and what waited goes there.
    /// A client that went away meanwhile leaves nothing: the temporary is removed, and a file the
    /// fid created with it.
    private func enterStream(_ backendFid: UInt32) {
        guard var state = blue[backendFid], let commit = state.commit, let replace = commit.replace else { return }
        if let error = commit.error {
            // A write to the temporary failed: it goes, and the fid writes through (the next clunk reports it).
            dropReplace(replace)
            blue[backendFid]?.commit?.replace = nil
            blue[backendFid]?.writeThrough = true
            host.blueCommitFailed(error, bytes: commit.file.byteCount)
            return finishCommit(backendFid)
        }
        state.commit = nil
        state.stream = replace
        state.streamedBytes = commit.file.byteCount
        blueBytes &-= commit.file.byteCount
        let deferred = state.deferred
        state.deferred = []
        blue[backendFid] = state
        if phase != .active {
            rollbackBlue(backendFid, reason: "the client went away", removeCreated: true)
            blue[backendFid] = nil
        }
        releaseDeferred(deferred)
    }

    /// A Tclunk or Tfsync of a streaming fid: the temporary is renamed over the file (the commit
    /// has no writes left to make).
    func commitStream(_ backendFid: UInt32) {
        guard var state = blue[backendFid], let stream = state.stream, state.commit == nil else { return }
        var commit = BlueCommit(file: state.file, steps: [], writeFid: stream.tempFid)
        commit.replace = stream
        commit.streamed = true
        state.stream = nil
        state.commit = commit
        blue[backendFid] = state
        pumpCommit(backendFid)
    }

    /// An edit (the replace has a read fid) copies the old content first, up to the held
    /// truncation: sets how far. False when the file is larger than blue-max: the replace is then
    /// given up (both dialects).
    func editCopyPlanned(_ backendFid: UInt32, oldSize: UInt64) -> Bool {
        guard blue[backendFid]?.commit?.replace?.readFid != nil else { return true }
        guard oldSize <= UInt64(access.blue?.maxPerFid ?? 0) else {
            abandonReplace(backendFid, because: "an edit of a file larger than blue-max")
            return false
        }
        let cut = blue[backendFid]?.commit?.file.cut ?? .max
        blue[backendFid]?.commit?.replace?.copyEnd = min(oldSize, cut)
        return true
    }

    /// Gives the replace up before anything reached the file: what it made is removed, and the
    /// commit's steps apply in place from the first.
    func abandonReplace(_ backendFid: UInt32, because reason: String) {
        guard var commit = blue[backendFid]?.commit, let replace = commit.replace else { return }
        dropReplace(replace)
        commit.replace = nil
        if commit.streamed {
            // The content is in the temporary only: the commit fails, and the file stays as it was.
            host.blueNote("commit failed: \(reason)", path: "\(replace.directory.appending(replace.targetName))")
            commit.error = commit.error ?? ProxyError(errno: 5, message: "Input/output error", detail: "commit: \(reason)")
            blue[backendFid]?.commit = commit
            return finishCommit(backendFid)
        }
        host.blueNote("commit in place: \(reason)", path: "\(replace.directory.appending(replace.targetName))")
        if commit.startsStream {
            // No temporary to stream to: what is held commits in place, and the writes go through;
            // unless the client went away meanwhile, when nothing of it is written.
            commit.startsStream = false
            blue[backendFid]?.writeThrough = true
            host.blueCounted(.writeThrough)
            if phase != .active {
                host.audit(AuditEvent(kind: .partialWriteRollback, detail: "\(commit.file.byteCount) bytes dropped: the client went away"))
                host.blueCounted(.rollback)
                commit.steps = []
                if blue[backendFid]?.creates == true && dialect == .linux { blueRemoveAtCleanup.insert(backendFid) }
            }
        }
        commit.writeFid = backendFid
        (commit.next, commit.inFlight, commit.resizing, commit.error) = (0, 0, false, nil)
        blue[backendFid]?.commit = commit
        pumpCommit(backendFid)
    }

    /// Removes the temporary (if made) and lets go of the replace's fids.
    func dropReplace(_ replace: BlueReplace) {
        if let nameFid = replace.nameFid {
            sendOwn(.clunk(Tclunk(fid: nameFid)), releases: nameFid, commitStep: true) { _ in }
        }
        if let readFid = replace.readFid, replace.walked.contains(readFid) {
            sendOwn(.clunk(Tclunk(fid: readFid)), releases: readFid, commitStep: true) { _ in }
        }
        if replace.walked.contains(replace.tempFid) {
            let message: TMessage = replace.created ? .remove(Tremove(fid: replace.tempFid)) : .clunk(Tclunk(fid: replace.tempFid))
            sendOwn(message, releases: replace.tempFid, commitStep: true) { _ in }
        }
        if replace.walked.contains(replace.directoryFid) {
            sendOwn(.clunk(Tclunk(fid: replace.directoryFid)), releases: replace.directoryFid, commitStep: true) { _ in }
        }
    }
}
