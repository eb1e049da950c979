import Foundation
import NineP
import Pebble

/// Atomic replace on 9P2000 and 9P2000.u (`ProxySession+BlueReplace` is the whole story; these
/// are the dialect's steps): the temporary is made by Tcreate and given the old file's mode and
/// owner by Twstat where they differ, and renamed over the file by a Twstat of its name. An edit
/// copies the old content first through a fid opened for reading, clunked before the rename (the
/// py9p server's fids on one name share one open file: a later clunk would close the new one's).
///
/// A server that will not rename onto an existing name (Plan 9's own keep names unique) refuses
/// the Twstat: the temporary is removed, the commit applies in place (truncation, then writes),
/// and the session stops trying.
extension ProxySession {
    static let plan9Write: UInt8 = 1
    /// Stat mode bits of anything but a plain file: DMDIR, DMAPPEND, DMEXCL, DMMOUNT, DMAUTH and
    /// 9P2000.u's DMSYMLINK, DMDEVICE, DMNAMEDPIPE, DMSOCKET.
    static let plan9FileKindBits: UInt32 = 0xFA00_0000 | 0x00B0_0000

    /// The old file's stat and the two walks are in: the temporary is made, then given the old
    /// file's mode and owner, then written (the commit's steps).
    func plan9ReplacePrepared(_ backendFid: UInt32) {
        guard let replace = blue[backendFid]?.commit?.replace else { return }
        guard replace.walked.count == (replace.readFid == nil ? 2 : 3), let old = replace.oldStat else {
            return abandonReplace(backendFid, because: "the directory or the file's stat could not be reached")
        }
        guard old.qid.type == 0, old.mode & Self.plan9FileKindBits == 0 else {
            return abandonReplace(backendFid, because: "not a plain file")
        }
        guard editCopyPlanned(backendFid, oldSize: old.length) else { return }
        let create = Tcreate(fid: replace.tempFid, name: WireString(replace.tempName), perm: old.mode & 0o777, mode: Self.plan9Write)
        replaceStep(backendFid, .create(create)) { [unowned self] reply in
            guard case .create? = reply else { return abandonReplace(backendFid, because: "the temporary could not be made") }
            blue[backendFid]?.commit?.replace?.created = true
            replaceStep(backendFid, .stat(Tstat(fid: replace.tempFid))) { [unowned self] reply in
                guard case let .stat(made)? = reply else { return abandonReplace(backendFid, because: "the temporary's stat could not be read") }
                guard let change = Self.ownerAndMode(of: old, for: made.stat) else { return plan9Fill(backendFid) }
                replaceStep(backendFid, .wstat(Twstat(fid: replace.tempFid, stat: change))) { [unowned self] reply in
                    guard case .wstat? = reply else {
                        return abandonReplace(backendFid, because: "the temporary could not be given the file's mode and owner")
                    }
                    plan9Fill(backendFid)
                }
            }
        }
    }

    /// The temporary is made: an edit's old content is copied into it first, then the commit's
    /// steps go to it.
    private func plan9Fill(_ backendFid: UInt32) {
        guard let replace = blue[backendFid]?.commit?.replace else { return }
        blue[backendFid]?.commit?.writeFid = replace.tempFid
        guard let readFid = replace.readFid else { return pumpCommit(backendFid) }
        replaceStep(backendFid, .open(Topen(fid: readFid, mode: 0))) { [unowned self] reply in
            guard case .open? = reply else { return abandonReplace(backendFid, because: "the file could not be opened to copy it") }
            pumpCopy(backendFid)
        }
    }

    /// A Twstat's stat that gives `temporary` the mode and owner of `old` (only what differs: a
    /// server may refuse an owner change even to the same owner); nil when nothing differs.
    static func ownerAndMode(of old: Stat, for temporary: Stat) -> Stat? {
        var change = Stat.unchanged()
        if old.mode != temporary.mode { change.mode = old.mode }
        if old.uid != temporary.uid { change.uid = old.uid }
        if old.gid != temporary.gid { change.gid = old.gid }
        if old.nUid != temporary.nUid { change.nUid = old.nUid }
        if old.nGid != temporary.nGid { change.nGid = old.nGid }
        return change == Stat.unchanged() ? nil : change
    }

    /// The temporary is written: `nameFid`, walked to it, is renamed by a Twstat of the name. Then a
    /// new fid walked to the file's name takes the client fid's place: the old backend fid is
    /// clunked first and the new one opened after (the py9p server keeps one open file for a
    /// name, shared by every fid on it: opening the new before closing the old would close the
    /// new one's), as the client opened the old file.
    func plan9Rename(_ backendFid: UInt32, nameFid: UInt32) {
        guard let replace = blue[backendFid]?.commit?.replace else { return }
        var renamed = Stat.unchanged()
        renamed.name = WireString(replace.targetName)
        replaceStep(backendFid, .wstat(Twstat(fid: nameFid, stat: renamed))) { [unowned self] reply in
            guard case .wstat? = reply else {
                blueRenameRefused = true
                return abandonReplace(backendFid, because: "the server refused to rename the temporary over the file "
                                      + "(this session's next commits apply in place)")
            }
            plan9RenameChecked(backendFid)
        }
    }

    /// The server answered the rename: the temporary's name must be gone. A server whose Twstat
    /// changes the name in the stat alone (aio9p's) keeps both names, the file's still its old
    /// content: that is no rename, and the commit applies in place (the session stops trying).
    private func plan9RenameChecked(_ backendFid: UInt32) {
        guard let replace = blue[backendFid]?.commit?.replace else { return }
        let checkFid = newBackendFid()
        let walk = Twalk(fid: replace.directoryFid, newfid: checkFid, wnames: [WireString(replace.tempName)])
        let sent = sendOwn(.walk(walk), creates: checkFid, commitStep: true) { [unowned self] reply in
            if case let .walk(walked)? = reply, walked.wqids.count == 1 {
                sendOwn(.clunk(Tclunk(fid: checkFid)), releases: checkFid, commitStep: true) { _ in }
                blueRenameRefused = true
                // The stat's name back first: such a server removes a file by the name in its stat.
                var back = Stat.unchanged()
                back.name = WireString(replace.tempName)
                let fid = replace.nameFid ?? replace.tempFid
                replaceStep(backendFid, .wstat(Twstat(fid: fid, stat: back))) { [unowned self] _ in
                    abandonReplace(backendFid, because: "the server answered the rename, but the temporary's name still stands "
                                   + "(this session's next commits apply in place)")
                }
                return
            }
            if let nameFid = blue[backendFid]?.commit?.replace?.nameFid {
                blue[backendFid]?.commit?.replace?.nameFid = nil
                sendOwn(.clunk(Tclunk(fid: nameFid)), releases: nameFid, commitStep: true) { _ in }
            }
            plan9Reopen(backendFid)
        }
        if !sent { abandonReplace(backendFid, because: "the check after the rename could not be sent") }
    }

    /// After the rename: the client fid moves to a fid on the file's name, opened.
    private func plan9Reopen(_ backendFid: UInt32) {
        guard let state = blue[backendFid], let replace = state.commit?.replace else { return }
        let path = replace.directory.appending(replace.targetName)
        let newFid = newBackendFid()
        let walk = Twalk(fid: replace.directoryFid, newfid: newFid, wnames: [WireString(replace.targetName)])
        let sent = sendOwn(.walk(walk), creates: newFid, commitStep: true) { [unowned self] reply in
            guard case let .walk(walked)? = reply, walked.wqids.count == 1, let state = blue[backendFid] else {
                host.blueNote("replaced, but the new file could not be walked to: the client fid stays on the old one", path: "\(path)")
                return replaced(backendFid, newFid: nil)
            }
            // The client's requests wait for the commit, so the fid may change hands now.
            fids.rebind(clientFid: state.clientFid, from: backendFid, to: newFid)
            blue[backendFid] = nil
            blue[newFid] = state
            let closed = sendOwn(.clunk(Tclunk(fid: backendFid)), releases: backendFid, commitStep: true) { [unowned self] _ in
                replaceStep(newFid, .open(Topen(fid: newFid, mode: UInt8(truncatingIfNeeded: state.accessMode)))) { [unowned self] reply in
                    if case .open? = reply {} else {
                        host.blueNote("replaced, but the new file could not be opened for the client fid", path: "\(path)")
                    }
                    replaced(newFid, newFid: nil)
                }
            }
            if !closed { replaced(newFid, newFid: nil) }
        }
        if !sent { replaced(backendFid, newFid: nil) }
    }
}
