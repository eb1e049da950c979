/// Which path a session's Rread and Twrite data took through the gateway (the plan's
/// `bytes_read_zero_copy` and `bytes_read_copied`, and the same for writes): spliced socket →
/// pipe → socket, never in the gateway's memory, or read into its buffers and written out again.
struct PayloadPaths {
    var readZeroCopy = 0
    var readCopied = 0
    var writtenZeroCopy = 0
    var writtenCopied = 0
    /// Twrite data a Blue fid holds, spliced from the client's socket into its spill file.
    var heldSpliced = 0
}
