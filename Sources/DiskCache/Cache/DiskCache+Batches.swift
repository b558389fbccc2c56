/// Many keys in one call: one read, or one write (one lock acquisition, one append, one
/// commit) for the whole batch.

/// Keys copied into one buffer, for the calls that take many (`withItems`, `deleteMany`).
public struct KeyList: Sendable {
    var bytes: [UInt8] = []
    var parts: [(kind: ItemKind, start: Int, count: Int)] = []

    public init() {}

    public var count: Int { parts.count }

    public mutating func append(_ key: KeyRef) {
        parts.append((key.kind, bytes.count, key.bytes.count))
        bytes.append(contentsOf: key.bytes)
    }

    public mutating func append(_ key: StoredKey) {
        key.withRef { append($0) }
    }

    /// Calls `body` with a function giving the `i`th key (valid inside `body` only).
    func withKeys<R>(_ body: ((Int) -> KeyRef) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { raw in
            try body { i in
                let p = parts[i]
                return KeyRef(kind: p.kind, bytes: UnsafeRawBufferPointer(rebasing: raw[p.start..<(p.start + p.count)]))
            }
        }
    }
}

/// Items to store together with `DiskCache.setMany`: keys and small values copied into
/// buffers, large values already written to value files (by `DiskCache.append(to:...)`,
/// before any lock is taken). A batch that is not stored must be given to
/// `DiskCache.discard(_:)`, which removes its files.
public struct WriteBatch: Sendable {
    var keys = KeyList()
    var values: [UInt8] = []
    var items: [(kind: ItemKind, start: Int, count: Int, file: ExternalValue?)] = []

    public init() {}

    public var count: Int { items.count }

    /// Empties the batch, keeping its buffers for the next one (a binding that stores
    /// batches often reuses one: fresh large buffers cost a page fault per 4 KiB). Its files
    /// must have been stored or discarded.
    public mutating func removeAll() {
        keys.bytes.removeAll(keepingCapacity: true)
        keys.parts.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        items.removeAll(keepingCapacity: true)
    }

    /// Bytes the buffers hold on to.
    public var capacity: Int { keys.bytes.capacity + values.capacity + keys.parts.capacity * 32 + items.capacity * 64 }

    /// Whether some values went to files (a store that failed removes them, so a retry
    /// cannot store the same batch again).
    public var hasFiles: Bool { items.contains { $0.file != nil } }
}

extension DiskCache {
    /// Adds `key` → the value from `source` to `batch`, after the checks `store` makes (key
    /// and inline value sizes). A value that goes to a file is written now.
    public func append(to batch: inout WriteBatch, key: KeyRef, kind: ItemKind, _ source: ValueSource) throws {
        try checkKey(key)
        if let ext = try externalValue(for: source) {
            batch.keys.append(key)
            batch.items.append((kind, 0, 0, ext))
            return
        }
        guard case .bytes(let value, _) = source else { return }
        try checkLength(value.count, "value")
        batch.keys.append(key)
        batch.items.append((kind, batch.values.count, value.count, nil))
        batch.values.append(contentsOf: value)
    }

    /// Removes the value files of a batch that will not be stored.
    public func discard(_ batch: WriteBatch) {
        discardFiles(of: batch, from: 0)
    }

    private func discardFiles(of batch: WriteBatch, from first: Int) {
        for item in batch.items[first...] {
            if let name = item.file?.name { removeValueFile(name) }
        }
    }

    /// Stores every item of `batch` in one write, in order (a key given twice ends with its
    /// last value), each with `expireTime` and `tag`; culls after each item as a `set` of it
    /// would. All or nothing: on error none is stored and the batch's files are removed.
    /// Returns the number of items.
    @discardableResult
    public func setMany(_ batch: WriteBatch, expireTime: Double? = nil, tag: KeyRef? = nil) throws -> Int {
        // Items whose records the write holds: a rollback removes their files itself.
        var appended = 0
        do {
            return try withWriting {
                let now = wallClock()
                try batch.values.withUnsafeBytes { values in
                    try batch.keys.withKeys { key in
                        for (n, item) in batch.items.enumerated() {
                            if let ext = item.file {
                                removeOnRollback.append(ext.name)
                                ext.encoded().withUnsafeBytes {
                                    putRecord(key(n), kind: item.kind, payload: $0, external: true, externalSize: ext.size, expireTime: expireTime, tag: tag, now: now)
                                }
                            } else {
                                let value = UnsafeRawBufferPointer(rebasing: values[item.start..<(item.start + item.count)])
                                putRecord(key(n), kind: item.kind, payload: value, external: false, expireTime: expireTime, tag: tag, now: now)
                            }
                            appended = n + 1
                            try cullAfterWrite(now)
                        }
                    }
                }
                return batch.count
            }
        } catch {
            discardFiles(of: batch, from: appended)
            throw error
        }
    }

    /// Removes the live items under `keys` in one write. Returns how many there were (a key
    /// given twice counts once).
    @discardableResult
    public func deleteMany(_ keys: KeyList) throws -> Int {
        try withWriting {
            let now = wallClock()
            return keys.withKeys { key in
                var removed = 0
                for n in 0..<keys.count {
                    guard let i = index.find(key(n)), !index.table[i].isExpired(at: now) else { continue }
                    deleteEntry(i)
                    removed += 1
                }
                return removed
            }
        }
    }

    /// Calls `body` with the position in `keys` and the live item of each key that has one,
    /// in one read (`withItem`'s rules for each). With `recordingAccess` (as `get`), hits and
    /// misses are counted and the policies that track use note the hits (in one write, which
    /// does not wait: see `noteAccess`); without (listing), neither.
    public func withItems(_ keys: KeyList, recordingAccess: Bool = true, readFile: (ItemKind) -> Bool = { _ in true }, _ body: (Int, ItemView) throws -> Void) throws {
        var hits: [Int] = []
        try withReading {
            let now = wallClock()
            try keys.withKeys { key in
                for n in 0..<keys.count {
                    var found = false
                    if let i = index.find(key(n)), !index.table[i].isExpired(at: now) {
                        found = try withLiveRecord(i, readFile: readFile) { try body(n, $0) } != nil
                    }
                    if recordingAccess && found { hits.append(n) }
                }
            }
            // Counted once every item was seen: a `body` that throws (a read refused without
            // waiting, to be made again) leaves the counters as they were.
            if recordingAccess { countStats(hits: hits.count, misses: keys.count - hits.count) }
        }
        guard !hits.isEmpty, settings.policy == .leastRecentlyUsed || settings.policy == .leastFrequentlyUsed else { return }
        try recordAccess {
            keys.withKeys { key in
                for n in hits { appendAccess(key(n)) }
            }
        }
    }

    /// Stores `items` (key, bytes, kind) in one write: see `setMany(_:expireTime:tag:)`.
    @discardableResult
    public func setMany(_ items: [(key: StoredKey, value: [UInt8], kind: ItemKind)], ttl: Duration? = nil, tag: StoredKey? = nil) throws -> Int {
        var batch = WriteBatch()
        do {
            for item in items {
                try item.key.withRef { k in
                    try item.value.withUnsafeBytes { try append(to: &batch, key: k, kind: item.kind, .bytes($0, .automatic)) }
                }
            }
        } catch {
            discard(batch)
            throw error
        }
        let expire = expireTime(after: ttl)
        guard let tag else { return try setMany(batch, expireTime: expire) }
        return try tag.withRef { try setMany(batch, expireTime: expire, tag: $0) }
    }

    /// The live items under `keys` (absent keys have none), read in one go.
    public func getMany(_ keys: [StoredKey]) throws -> [StoredKey: Item] {
        var list = KeyList()
        for k in keys { list.append(k) }
        var out: [StoredKey: Item] = [:]
        try withItems(list) { n, view in out[keys[n]] = Item(view) }
        return out
    }

    /// Removes the live items under `keys` in one write; returns how many there were.
    @discardableResult
    public func deleteMany(_ keys: [StoredKey]) throws -> Int {
        var list = KeyList()
        for k in keys { list.append(k) }
        return try deleteMany(list)
    }
}
