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

    /// Where fields lie, for the snapshot's structure check (which reads them from bytes not
    /// yet trusted: `live` must be 0 or 1 before anything loads it as a Bool).
    static let liveOffset = MemoryLayout<Entry>.offset(of: \Entry.live)!
    static let keyStartOffset = MemoryLayout<Entry>.offset(of: \Entry.keyStart)!
    static let keyLengthOffset = MemoryLayout<Entry>.offset(of: \Entry.keyLength32)!
    static let recordLengthOffset = MemoryLayout<Entry>.offset(of: \Entry.recordLength)!
    static let offsetOffset = MemoryLayout<Entry>.offset(of: \Entry.offset)!
    static let externalSizeOffset = MemoryLayout<Entry>.offset(of: \Entry.externalSize)!

    /// The layout field by field (name, offset, size), which snapshots record: entries are
    /// stored as they lie in memory, and a build that lays them out otherwise must not read
    /// them.
    static let layoutDescription: String = {
        func field<T>(_ name: String, _ path: PartialKeyPath<Entry>, _: T.Type) -> String {
            "\(name)@\(MemoryLayout<Entry>.offset(of: path) ?? -1):\(MemoryLayout<T>.size)"
        }
        let fields = [
            field("keyStart", \Entry.keyStart, Int.self), field("offset", \Entry.offset, Int64.self),
            field("rowid", \Entry.rowid, Int64.self), field("storeTime", \Entry.storeTime, Double.self),
            field("accessTime", \Entry.accessTime, Double.self), field("expireTime", \Entry.expireTime, Double.self),
            field("externalSize", \Entry.externalSize, Int64.self), field("keyLength", \Entry.keyLength32, Int32.self),
            field("recordLength", \Entry.recordLength, UInt32.self), field("tagHash", \Entry.tagHash, UInt32.self),
            field("accessCount", \Entry.accessCount32, Int32.self), field("keyKind", \Entry.keyKind, UInt8.self),
            field("valueKind", \Entry.valueKind, UInt8.self), field("flags", \Entry.flags, UInt8.self),
            field("live", \Entry.live, Bool.self),
        ]
        return "Entry/\(MemoryLayout<Entry>.stride)/\(MemoryLayout<Entry>.alignment)/" + fields.joined(separator: ",")
    }()
}
