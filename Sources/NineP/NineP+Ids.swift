extension NineP {
    /// "No numeric id" in 9P2000.u's n_uname, n_uid, n_gid and n_muid (~0 in the spec). Also what those
    /// fields hold after decoding a dialect that does not carry them.
    public static let noUid: UInt32 = 0xFFFF_FFFF
}
