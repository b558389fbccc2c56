/// Which keys `cull` removes first when the cache is over its size limit.
public enum EvictionPolicy: String, Sendable, CaseIterable {
    /// The oldest stored first (the default).
    case leastRecentlyStored = "least-recently-stored"
    /// The one read longest ago first (every hit records the access: a write).
    case leastRecentlyUsed = "least-recently-used"
    /// The one read the fewest times first (every hit counts: a write).
    case leastFrequentlyUsed = "least-frequently-used"
    /// None: the cache grows past its size limit (expired items are still removed).
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
    /// Bytes the cache may hold (`volume()`) before writes cull items; default 1 GiB.
    public static let sizeLimit = "size_limit"
    /// How many items a write removes at most after it stores: expired ones first, then, over
    /// the size limit, by the eviction policy; default 10 (0: writes never cull).
    public static let cullLimit = "cull_limit"
    /// Which items culling removes first: an `EvictionPolicy` raw value.
    public static let evictionPolicy = "eviction_policy"
    /// Whether hits and misses are counted (`stats()`): 1 on, 0 off.
    public static let statistics = "statistics"
    /// Kept for python-diskcache: tags are always indexed here.
    public static let tagIndex = "tag_index"
    /// Values of at least this many bytes go to files of their own; default 32 KiB.
    public static let minFileSize = "disk_min_file_size"
    /// When writes reach stable storage: a `Durability` raw value.
    public static let durability = "durability"
    /// A bound on the number of items (0: none), culled as `size_limit` is.
    public static let maxEntries = "max_entries"

    /// Every name the engine acts on or keeps for python-diskcache.
    public static let all: Set<String> = [sizeLimit, cullLimit, evictionPolicy, statistics, tagIndex, minFileSize, durability, maxEntries]
}

/// The settings the engine itself acts on, read from the persisted ones.
struct EffectiveSettings {
    var sizeLimit: Int64 = 1 << 30
    var cullLimit: Int = 10
    var policy: EvictionPolicy = .leastRecentlyStored
    var statistics = false
    var minFileSize: Int = 1 << 15
    var durability: Durability = .none
    /// 0: no bound.
    var maxEntries: Int = 0

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
        if let v = s[SettingName.maxEntries]?.intValue { maxEntries = Int(max(0, v)) }
    }

    /// Items over the `max_entries` bound (0 when there is none).
    func entriesOver(_ count: Int) -> Int {
        maxEntries > 0 && count > maxEntries ? count - maxEntries : 0
    }

    /// Rejects values the engine cannot act on, before they are persisted.
    static func validate(_ name: String, _ value: SettingValue, anyName: Bool) throws {
        if !anyName && !SettingName.all.contains(name) {
            throw DiskCacheError(.invalidArgument, "Unknown setting '\(name)'; the settings are \(SettingName.all.sorted().joined(separator: ", "))")
        }
        switch name {
        case SettingName.evictionPolicy:
            guard let v = value.textValue, EvictionPolicy(rawValue: v) != nil else {
                throw DiskCacheError(.invalidArgument, "Unknown eviction policy \(value); expected one of \(EvictionPolicy.allCases.map(\.rawValue))")
            }
        case SettingName.durability:
            guard let v = value.textValue, Durability(rawValue: v) != nil else {
                throw DiskCacheError(.invalidArgument, "Unknown durability \(value); expected 'none' or 'sync'")
            }
        case SettingName.maxEntries:
            guard case .int(let v) = value, v >= 0 else {
                throw DiskCacheError(.invalidArgument, "Setting max_entries must be a non-negative integer (0: no bound), not \(value)")
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
