/// What the index knows about one live key: where its newest record is and the fields the
/// policies need without touching the disk. Kept small (80 bytes): a million of them must fit
/// in the memory budget. Wide fields first so the layout has no padding.
struct Entry {
    /// Identity bytes (class byte + canonical key) in the key arena.
    var keyStart: Int = 0
    /// Offset of the record in the active segment.
    var offset: Int64 = 0
    /// python-diskcache's rowid: insertion position, kept when the key is overwritten.
    var rowid: Int64 = 0
    var storeTime: Double = 0
    var accessTime: Double = 0
    /// NaN when the key never expires.
    var expireTime: Double = .nan
    var externalSize: Int64 = 0
    private var keyLength32: Int32 = 0
    var recordLength: UInt32 = 0
    var tagHash: UInt32 = 0
    private var accessCount32: Int32 = 0
    var keyKind: UInt8 = 0
    var valueKind: UInt8 = 0
    var flags: UInt8 = 0
    var live = false

    var keyLength: Int {
        get { Int(keyLength32) }
        set { keyLength32 = Int32(newValue) }
    }

    /// Accesses counted for least-frequently-used eviction (saturates at Int32.max).
    var accessCount: Int64 {
        get { Int64(accessCount32) }
        set { accessCount32 = Int32(clamping: newValue) }
    }

    var isExternal: Bool { flags & RecordFlags.external != 0 }
    var hasExpiry: Bool { !expireTime.isNaN }

    @inline(__always)
    func isExpired(at now: Double) -> Bool { !expireTime.isNaN && expireTime < now }

    /// Bytes this entry adds to `volume()`.
    var volume: Int64 { Int64(recordLength) + externalSize }
}
