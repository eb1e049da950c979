import Foundation

/// The end of a session: once both connections are closed, its timers, slots and shares go back,
/// a file server it started is stopped, and the session-close line says what it did.
extension GatewaySession {
    func finishIfDone() {
        if !backendOpen { releaseConnectSlot() }
        guard !clientOpen && !backendOpen, !finished else { return }
        finished = true
        if let connectTicket {
            loop.connectGate.cancel(connectTicket)
            self.connectTicket = nil
        }
        drainTimer?.cancel()
        drainTimer = nil
        handshakeTimer?.cancel()
        handshakeTimer = nil
        watchTimer?.cancel()
        watchTimer = nil
        pacingTimer?.cancel()
        pacingTimer = nil
        core.quota?.shared = nil
        core.clientTotals = .init()
        settings.metrics.sessionsOpen.subtract(1)
        settings.sessions?.remove(sessionNumber)
        settings.metrics.fidsActive.subtract(fidsReported)
        fidsReported = 0
        settings.metrics.blueBytesHeld.subtract(blueBytesReported)
        blueBytesReported = 0
        countedAs.removeAll()
        closeTimer?.cancel()
        closeTimer = nil
        resetTimer?.cancel()
        resetTimer = nil
        if let process = serverProcess, !process.exited {
            // It has seen EOF on its socket, which ends diod; one that ignores it is stopped.
            _ = loop.schedule(after: Self.serverExitGraceMilliseconds) { [logger] in
                guard !process.exited else { return }
                logger.warning("file server still running after its session; sending SIGTERM", metadata: ["pid": "\(process.pid)"])
                process.terminate()
            }
        }
        let stats = core.stats
        let duration = ContinuousClock.now - startedAt
        logger.info("session closed", metadata: [
            "dialect": "\(core.dialect?.rawValue ?? "none")",
            "msize": "\(core.msize)",
            "backend_msize": "\(core.backendMsize)",
            "requests": "\(stats.requests)",
            "split_requests": "\(stats.splitRequests)",
            "read_ahead_reads": "\(stats.readAheadReads)",
            "read_ahead_hits": "\(stats.readAheadHits)",
            "replies": "\(stats.replies)",
            "bytes_in": "\(stats.bytesFromClient)",
            "bytes_out": "\(stats.bytesToClient)",
            "bytes_spliced": "\(payload.readZeroCopy &+ payload.writtenZeroCopy)",
            "bytes_read_zero_copy": "\(payload.readZeroCopy)",
            "bytes_read_copied": "\(payload.readCopied)",
            "bytes_written_zero_copy": "\(payload.writtenZeroCopy)",
            "bytes_held_spliced": "\(payload.heldSpliced)",
            "bytes_written_copied": "\(payload.writtenCopied)",
            "gateway_errors": "\(stats.errorsByGateway)",
            "requests_held": "\(stats.held)",
            "backend_fids_left": "\(core.fids.liveBackendFids.count)",
            "duration": "\(duration)",
            "reason": "\(closeReason ?? "client closed")",
            "identity": "\(identity)",
        ])
        onFinish(self)
    }
}
