import Foundation
import NineP
import Pebble

/// Atomic replace: when a Blue fid created its file or truncated it to nothing, its commit writes
/// the whole new content to a hidden temporary sibling (`BlueTemporary`), gives that the old
/// file's mode and owner, and renames it over the file (Trename: diod has no Trenameat). Every
/// other reader sees the old file or the new one, never a part of it, whatever dies meanwhile: a
/// temporary left behind by a crash is removed by a later commit in that directory. The client's
/// fid then stands for the new file, opened as the client opened the old one (whose backend fid,
/// open on the file that was replaced, is clunked).
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
        var walked: Set<UInt32> = []
        /// The temporary exists: whatever fails from now on removes it.
        var created = false
    }

    /// Tgetattr's mask for mode, nlink, uid and gid; Tsetattr's valid bits for mode, uid, gid.
    static let getattrModeOwner: UInt64 = 0x1 | 0x2 | 0x4 | 0x8
    static let setattrModeOwner: UInt32 = 0x1 | 0x2 | 0x4
    static let linuxCreate: UInt32 = 0o100
    static let fileTypeMask: UInt32 = 0o170000, regularFile: UInt32 = 0o100000

    /// Starts an atomic replace for `backendFid`'s commit. False, with nothing sent, when there
    /// is no directory fid to walk from: the commit then applies in place.
    func startReplace(_ backendFid: UInt32) -> Bool {
        guard dialect == .linux, let state = blue[backendFid], let path = state.path, let targetName = path.names.last else { return false }
        let directory = CapabilityPath(names: Array(path.names.dropLast()))
        guard let origin = walkOrigin(to: directory, attachID: state.attachID) else {
            host.blueNote("commit in place: no directory fid of the attach to walk from", path: "\(path)")
            return false
        }
        let names = directory.names.dropFirst(origin.depth).map { WireString($0) }
        var replace = BlueReplace(tempFid: newBackendFid(), directoryFid: newBackendFid(),
                                  tempName: BlueTemporary.name(UInt64.random(in: 0...UInt64.max)), targetName: targetName, directory: directory)
        blue[backendFid]?.commit?.replace = replace
        let asks: [(TMessage, UInt32?)] = [(.getattr(Tgetattr(fid: backendFid, requestMask: Self.getattrModeOwner)), nil),
                                           (.walk(Twalk(fid: origin.backendFid, newfid: replace.tempFid, wnames: names)), replace.tempFid),
                                           (.walk(Twalk(fid: origin.backendFid, newfid: replace.directoryFid, wnames: names)), replace.directoryFid)]
        for (message, creates) in asks {
            let sent = sendOwn(message, creates: creates, commitStep: true) { [unowned self] reply in
                replacePrepared(backendFid) { replace in
                    switch reply {
                    case let .getattr(attributes)?: replace.attributes = attributes
                    case let .walk(walk)? where walk.wqids.count == names.count: if let creates { replace.walked.insert(creates) }
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
        guard replace.walked.count == 2, let attributes = replace.attributes else {
            return abandonReplace(backendFid, because: "the directory or the file's attributes could not be reached")
        }
        guard attributes.mode & Self.fileTypeMask == Self.regularFile, attributes.nlink == 1 else {
            return abandonReplace(backendFid, because: "not a regular file with one link (a rename would break the others)")
        }
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
                pumpCommit(backendFid)
            }
        }
    }

    /// Sends one step of the replace, a commit step (it finishes even if the client goes); when it
    /// cannot be sent, `then` gets nil at once.
    private func replaceStep(_ backendFid: UInt32, _ message: TMessage, releases: UInt32? = nil, then: @escaping (RMessage?) -> Void) {
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
        replaceStep(backendFid, .rename(Trename(fid: replace.tempFid, dfid: replace.directoryFid, name: WireString(replace.targetName)))) {
            [unowned self] reply in
            guard case .rename? = reply else { return abandonReplace(backendFid, because: "the server refused the rename") }
            replaced(backendFid)
        }
    }

    /// The new content has the file's name: the client fid moves to it, the old backend fid is
    /// clunked, and the directory's stale temporaries are looked for (once per session).
    private func replaced(_ backendFid: UInt32) {
        guard var state = blue[backendFid], let replace = state.commit?.replace else { return }
        sendOwn(.clunk(Tclunk(fid: backendFid)), releases: backendFid, commitStep: true) { _ in }
        fids.rebind(clientFid: state.clientFid, from: backendFid, to: replace.tempFid)
        state.commit?.replace = nil
        blue[backendFid] = nil
        blue[replace.tempFid] = state
        host.blueCounted(.atomicReplace)
        finishCommit(replace.tempFid)
        sweepTemporaries(in: replace, attachID: state.attachID)
    }

    /// Gives the replace up before anything reached the file: what it made is removed, and the
    /// commit's steps apply in place from the first.
    func abandonReplace(_ backendFid: UInt32, because reason: String) {
        guard var commit = blue[backendFid]?.commit, let replace = commit.replace else { return }
        host.blueNote("commit in place: \(reason)", path: "\(replace.directory.appending(replace.targetName))")
        dropReplace(replace)
        commit.replace = nil
        commit.writeFid = backendFid
        (commit.next, commit.inFlight, commit.resizing, commit.error) = (0, 0, false, nil)
        blue[backendFid]?.commit = commit
        pumpCommit(backendFid)
    }

    /// Removes the temporary (if made) and lets go of the replace's fids.
    private func dropReplace(_ replace: BlueReplace) {
        if replace.walked.contains(replace.tempFid) {
            let message: TMessage = replace.created ? .remove(Tremove(fid: replace.tempFid)) : .clunk(Tclunk(fid: replace.tempFid))
            sendOwn(message, releases: replace.tempFid, commitStep: true) { _ in }
        }
        if replace.walked.contains(replace.directoryFid) {
            sendOwn(.clunk(Tclunk(fid: replace.directoryFid)), releases: replace.directoryFid, commitStep: true) { _ in }
        }
    }
}
