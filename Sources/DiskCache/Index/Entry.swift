/// What the index knows about one live key: where its newest record is and the fields the
/// policies need without touching the disk.
struct Entry {
    var hash: UInt64 = 0
    /// Identity bytes (class byte + canonical key) in the key arena.
    var keyStart: Int = 0
    var keyLength: Int = 0
    var keyKind: UInt8 = 0
    var valueKind: UInt8 = 0
    var flags: UInt8 = 0
    var live = false
    var tagHash: UInt32 = 0
    var recordLength: UInt32 = 0
    /// Offset of the record in the active segment.
    var offset: Int64 = 0
    /// python-diskcache's rowid: insertion position, kept when the key is overwritten.
    var rowid: Int64 = 0
    var storeTime: Double = 0
    var accessTime: Double = 0
    var accessCount: Int64 = 0
    /// NaN when the key never expires.
    var expireTime: Double = .nan
    var externalSize: Int64 = 0

    var isExternal: Bool { flags & RecordFlags.external != 0 }
    var hasExpiry: Bool { !expireTime.isNaN }

    @inline(__always)
    func isExpired(at now: Double) -> Bool { !expireTime.isNaN && expireTime < now }

    /// Bytes this entry adds to `volume()`.
    var volume: Int64 { Int64(recordLength) + externalSize }
}
