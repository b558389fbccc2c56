/// An item read with `get`, copied out of the cache.
public struct Item: Equatable, Sendable {
    /// How the value was stored (`.blob`, `.text`, `.int` ...): tells how to read `value`.
    public var kind: ItemKind
    /// The value's bytes: UTF-8 for `.text`, 8 little-endian bytes for `.int` and `.float`.
    public var value: [UInt8]
    /// When the item expires, in seconds since the Unix epoch (`ExpiryTime(secondsSince1970:)`);
    /// nil if it never does.
    public var expireTime: Double?
    /// The tag the item was stored with (see `evict(tag:)`), if any.
    public var tag: StoredKey?
}

extension Item {
    /// When the item expires (nil: never).
    public var expires: ExpiryTime? { expireTime.map { ExpiryTime(secondsSince1970: $0) } }
    /// The integer of an int value.
    public var int: Int64? { kind == .int && value.count == 8 ? Int64(littleEndian: value.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }) : nil }
    /// The text of a text value (`set(_:text:)`), nil for other kinds.
    public var text: String? { kind == .text ? String(decoding: value, as: UTF8.self) : nil }

    init(_ v: ItemView) {
        kind = v.kind
        value = Array(v.value)
        expireTime = v.expireTime
        tag = v.tagKind.map { StoredKey(kind: $0, bytes: Array(v.tag)) }
    }
}

/// Time-to-live to absolute expire time (Unix seconds, the binding layer's form).
func expireTime(after ttl: Duration?) -> Double? {
    ttl.map { ExpiryTime.after($0).secondsSince1970 }
}

extension DiskCache {
    /// Opens a cache with typed settings.
    ///
    /// For example:
    ///
    ///     let cache = try DiskCache(directory: "/tmp/c", sizeLimit: 1 << 20, policy: .leastRecentlyUsed)
    public convenience init(directory: String, sizeLimit: Int64? = nil, cullLimit: Int? = nil, policy: EvictionPolicy? = nil, statistics: Bool? = nil, minFileSize: Int? = nil, durability: Durability? = nil, maxEntries: Int? = nil) throws {
        var s: [String: SettingValue] = [:]
        if let sizeLimit { s[SettingName.sizeLimit] = .int(sizeLimit) }
        if let cullLimit { s[SettingName.cullLimit] = .int(Int64(cullLimit)) }
        if let policy { s[SettingName.evictionPolicy] = .text(policy.rawValue) }
        if let statistics { s[SettingName.statistics] = .int(statistics ? 1 : 0) }
        if let minFileSize { s[SettingName.minFileSize] = .int(Int64(minFileSize)) }
        if let durability { s[SettingName.durability] = .text(durability.rawValue) }
        if let maxEntries { s[SettingName.maxEntries] = .int(Int64(maxEntries)) }
        try self.init(directory: directory, settings: s)
    }

    /// The live item under `key`, or nil.
    public func get(_ key: StoredKey) throws -> Item? {
        try key.withRef { k in try withItem(k) { Item($0) } }
    }

    /// Stores bytes under `key`; `ttl` makes it expire.
    public func set(_ key: StoredKey, bytes: [UInt8], kind: ItemKind = .blob, ttl: Duration? = nil, tag: StoredKey? = nil) throws {
        try set(key, bytes: bytes, kind: kind, expires: ttl.map { .after($0) }, tag: tag)
    }

    /// Stores bytes under `key`, expiring at `expires` (nil: never).
    public func set(_ key: StoredKey, bytes: [UInt8], kind: ItemKind = .blob, expires: ExpiryTime?, tag: StoredKey? = nil) throws {
        try key.withRef { k in
            try bytes.withUnsafeBytes { v in
                try withTag(tag) { try set(k, kind: kind, value: v, expireTime: expires?.secondsSince1970, tag: $0) }
            }
        }
    }

    /// Stores text under `key`.
    public func set(_ key: StoredKey, text: String, ttl: Duration? = nil, tag: StoredKey? = nil) throws {
        try set(key, bytes: Array(text.utf8), kind: .text, ttl: ttl, tag: tag)
    }

    /// Stores text under `key`, expiring at `expires` (nil: never).
    public func set(_ key: StoredKey, text: String, expires: ExpiryTime?, tag: StoredKey? = nil) throws {
        try set(key, bytes: Array(text.utf8), kind: .text, expires: expires, tag: tag)
    }

    /// Stores an integer under `key` (it can then be `incr`emented).
    public func set(_ key: StoredKey, int: Int64, ttl: Duration? = nil, tag: StoredKey? = nil) throws {
        try set(key, bytes: withUnsafeBytes(of: int.littleEndian) { Array($0) }, kind: .int, ttl: ttl, tag: tag)
    }

    /// Stores an integer under `key`, expiring at `expires` (nil: never).
    public func set(_ key: StoredKey, int: Int64, expires: ExpiryTime?, tag: StoredKey? = nil) throws {
        try set(key, bytes: withUnsafeBytes(of: int.littleEndian) { Array($0) }, kind: .int, expires: expires, tag: tag)
    }

    /// Stores bytes under `key` only if no live item is there.
    public func add(_ key: StoredKey, bytes: [UInt8], kind: ItemKind = .blob, ttl: Duration? = nil, tag: StoredKey? = nil) throws -> Bool {
        try key.withRef { k in
            try bytes.withUnsafeBytes { v in
                try withTag(tag) { try add(k, kind: kind, value: v, expireTime: expireTime(after: ttl), tag: $0) }
            }
        }
    }

    /// Removes the item under `key`. Returns whether there was a live one.
    ///
    ///     try cache.delete("session:\(id)")
    @discardableResult
    public func delete(_ key: StoredKey) throws -> Bool {
        try key.withRef { try delete($0) }
    }

    /// Removes the item under `key` and returns it (nil if there was no live one), in one step:
    /// of two processes popping the same key, one gets the item.
    public func pop(_ key: StoredKey) throws -> Item? {
        try key.withRef { k in try pop(k) { Item($0) } }
    }

    /// Whether a live (unexpired) item is stored under `key`. Does not count as a hit or
    /// a use for the eviction policy.
    public func contains(_ key: StoredKey) throws -> Bool {
        try key.withRef { try contains($0) }
    }

    /// Makes the live item under `key` expire after `ttl` (nil: never). Returns whether there
    /// was a live item.
    ///
    ///     try cache.touch("session:\(id)", ttl: .seconds(1800))   // sliding expiry
    @discardableResult
    public func touch(_ key: StoredKey, ttl: Duration?) throws -> Bool {
        try touch(key, expires: ttl.map { .after($0) })
    }

    /// Makes the live item under `key` expire at `expires` (nil: never). Returns whether there
    /// was a live item.
    @discardableResult
    public func touch(_ key: StoredKey, expires: ExpiryTime?) throws -> Bool {
        try key.withRef { try touch($0, expireTime: expires?.secondsSince1970) }
    }

    /// Adds `delta` to the integer under `key` (missing: starts at `initial`).
    @discardableResult
    public func incr(_ key: StoredKey, by delta: Int64 = 1, initial: Int64? = 0) throws -> Int64? {
        guard let n = try key.withRef({ try incr($0, by: delta, initial: initial) }) else { return nil }
        switch n {
        case .int(let v): return v
        case .float(let d):
            // A float stored under the key: its integer part, if it has one that fits.
            guard let i = Int64(exactly: d.rounded(.towardZero)) else {
                throw DiskCacheError(.notNumeric, "The value under the key is \(d), which has no Int64 value; the sum was stored as a float")
            }
            return i
        }
    }

    /// Removes every item stored with `tag`; returns how many.
    ///
    ///     try cache.set("page:/", text: html, tag: "pages")
    ///     try cache.evict(tag: "pages")
    public func evict(tag: StoredKey) throws -> Int {
        try tag.withRef { try evict(tag: $0) }
    }

    /// Keys in insertion order (a snapshot).
    public func keys(reverse: Bool = false) throws -> [StoredKey] {
        guard let bounds = try rowidBounds() else { return [] }
        var out: [StoredKey] = []
        var cursor: Int64? = nil
        while true {
            let page = try keysPage(after: cursor, bound: bounds.max, reverse: reverse, limit: 1000)
            if page.isEmpty { break }
            out.append(contentsOf: page.map(\.key))
            cursor = page.last!.rowid
        }
        return out
    }

    /// Pushes bytes onto a queue; returns the key used.
    public func push(_ bytes: [UInt8], kind: ItemKind = .blob, prefix: String? = nil, side: QueueSide = .back) throws -> StoredKey {
        try bytes.withUnsafeBytes { try push(prefix: prefix, side: side, kind: kind, value: $0) }
    }

    /// Removes and returns the item at one end of a queue.
    public func pull(prefix: String? = nil, side: QueueSide = .front) throws -> (StoredKey, Item)? {
        try pull(prefix: prefix, side: side, remove: true) { ($0, Item($1)) }
    }

    /// Returns the item at one end of a queue without removing it.
    public func peek(prefix: String? = nil, side: QueueSide = .front) throws -> (StoredKey, Item)? {
        try pull(prefix: prefix, side: side, remove: false) { ($0, Item($1)) }
    }

    /// The first or last item in insertion order.
    public func peekItem(last: Bool = true) throws -> (StoredKey, Item)? {
        try peekItem(last: last) { ($0, Item($1)) }
    }

    private func withTag<R>(_ tag: StoredKey?, _ body: (KeyRef?) throws -> R) rethrows -> R {
        guard let tag else { return try body(nil) }
        return try tag.withRef { try body($0) }
    }
}
