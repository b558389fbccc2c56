/// A persisted setting's value. Settings are records in the log, so every process sees the
/// same ones; unknown names are kept as given (python-diskcache persists any keyword).
public enum SettingValue: Equatable, Sendable, CustomStringConvertible {
    case int(Int64)
    case float(Double)
    case text(String)

    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .float(let v): return String(v)
        case .text(let v): return v
        }
    }

    var intValue: Int64? {
        switch self {
        case .int(let v): return v
        case .float(let v):
            if let exact = exactInt64(v) { return exact }
            if v.isNaN { return nil }
            // Beyond Int64 (1e300, infinity) saturates: python-diskcache compares with the float.
            if v >= 0x1p63 { return .max }
            if v < -0x1p63 { return .min }
            return Int64(v)
        case .text: return nil
        }
    }

    var doubleValue: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .float(let v): return v
        case .text: return nil
        }
    }

    var textValue: String? {
        if case .text(let v) = self { return v }
        return nil
    }

    func encoded() -> (kind: ItemKind, bytes: [UInt8]) {
        switch self {
        case .int(let v): return (.int, withUnsafeBytes(of: v.littleEndian) { Array($0) })
        case .float(let v): return (.float, withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) })
        case .text(let v): return (.text, Array(v.utf8))
        }
    }

    init?(kind: UInt8, bytes: UnsafeRawBufferPointer) {
        switch ItemKind(rawValue: kind) {
        case .int where bytes.count == 8: self = .int(Int64(littleEndian: bytes.loadUnaligned(as: Int64.self)))
        case .float where bytes.count == 8: self = .float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))))
        case .text: self = .text(String(decoding: bytes, as: UTF8.self))
        default: return nil
        }
    }
}

/// Which keys `cull` removes first when the cache is over its size limit.
public enum EvictionPolicy: String, Sendable, CaseIterable {
    case leastRecentlyStored = "least-recently-stored"
    case leastRecentlyUsed = "least-recently-used"
    case leastFrequentlyUsed = "least-frequently-used"
    case none = "none"
}

/// When an acknowledged write reaches stable storage.
public enum Durability: String, Sendable {
    /// The operating system writes it back when it likes; a process crash loses nothing, a
    /// power loss may lose recent writes (never corrupts: records are checksummed).
    case none
    /// Every acknowledged write (or transaction) is `fdatasync`ed before the call returns.
    case sync
}

/// Setting names, shared with python-diskcache's `DEFAULT_SETTINGS`.
public enum SettingName {
    public static let sizeLimit = "size_limit"
    public static let cullLimit = "cull_limit"
    public static let evictionPolicy = "eviction_policy"
    public static let statistics = "statistics"
    public static let tagIndex = "tag_index"
    public static let minFileSize = "disk_min_file_size"
    public static let durability = "durability"
}

/// The settings the engine itself acts on, read from the persisted ones.
struct EffectiveSettings {
    var sizeLimit: Int64 = 1 << 30
    var cullLimit: Int = 10
    var policy: EvictionPolicy = .leastRecentlyStored
    var statistics = false
    var minFileSize: Int = 1 << 15
    var durability: Durability = .none

    static let defaults: [String: SettingValue] = [
        SettingName.sizeLimit: .int(1 << 30),
        SettingName.cullLimit: .int(10),
        SettingName.evictionPolicy: .text(EvictionPolicy.leastRecentlyStored.rawValue),
        SettingName.statistics: .int(0),
        SettingName.tagIndex: .int(0),
        SettingName.minFileSize: .int(1 << 15),
    ]

    init() {}

    init(_ s: [String: SettingValue]) {
        if let v = s[SettingName.sizeLimit]?.intValue { sizeLimit = v }
        if let v = s[SettingName.cullLimit]?.intValue { cullLimit = Int(v) }
        if let v = s[SettingName.evictionPolicy]?.textValue, let p = EvictionPolicy(rawValue: v) { policy = p }
        if let v = s[SettingName.statistics]?.intValue { statistics = v != 0 }
        if let v = s[SettingName.minFileSize]?.intValue { minFileSize = Int(max(0, min(v, Int64(RecordHeader.maxPartLength)))) }
        if let v = s[SettingName.durability]?.textValue, let d = Durability(rawValue: v) { durability = d }
    }

    /// Rejects values the engine cannot act on, before they are persisted.
    static func validate(_ name: String, _ value: SettingValue) throws {
        switch name {
        case SettingName.evictionPolicy:
            guard let v = value.textValue, EvictionPolicy(rawValue: v) != nil else {
                throw DiskCacheError(.invalidArgument, "Unknown eviction policy \(value); expected one of \(EvictionPolicy.allCases.map(\.rawValue))")
            }
        case SettingName.durability:
            guard let v = value.textValue, Durability(rawValue: v) != nil else {
                throw DiskCacheError(.invalidArgument, "Unknown durability \(value); expected 'none' or 'sync'")
            }
        case SettingName.sizeLimit, SettingName.cullLimit, SettingName.minFileSize, SettingName.statistics, SettingName.tagIndex:
            guard let v = value.doubleValue, !v.isNaN else {
                throw DiskCacheError(.invalidArgument, "Setting \(name) must be a number, not \(value)")
            }
        default:
            break
        }
    }
}
