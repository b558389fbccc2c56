/// Listing items in insertion order: live keys and values, and what the index and records
/// know about each item without reading its value.

/// What is known about a stored item without reading its value.
public struct ItemInfo: Equatable, Sendable {
    /// Insertion position (python-diskcache's rowid), for paging.
    public var rowid: Int64
    public var key: StoredKey
    /// Absolute expire time (seconds since the epoch), nil if the item never expires.
    public var expireTime: Double?
    public var tag: StoredKey?
    /// When the item was last stored (seconds since the epoch).
    public var storeTime: Double
    /// The value's size as stored: its encoded bytes in the log, or its file's size.
    public var size: Int64
}

extension DiskCache {
    /// Entry `i`'s metadata, from the index and its record's header, key and tag.
    func info(_ i: Int) throws -> ItemInfo {
        let e = index.table.entries[i]
        let fromRecord = try withEntryRecord(e) { r -> (StoredKey, StoredKey?, Int64)? in
            guard let r else { return nil }
            let tag = r.tagRef.map { StoredKey(kind: $0.kind, bytes: Array($0.bytes)) }
            return (StoredKey(kind: r.keyRef.kind, bytes: Array(r.key)), tag, e.isExternal ? e.externalSize : Int64(r.header.valueLength))
        }
        let (key, tag, size) = try fromRecord ?? (storedKey(i), nil, e.externalSize)
        return ItemInfo(rowid: e.rowid, key: key, expireTime: e.hasExpiry ? e.expireTime : nil, tag: tag, storeTime: e.storeTime, size: size)
    }

    /// Up to `limit` items' metadata in insertion order after (or, reversed, before) the rowid
    /// `cursor`, never past `bound` (see `keysPage`). Expired items not yet removed are
    /// included, as iteration includes them; values are never read.
    public func infoPage(after cursor: Int64?, bound: Int64, reverse: Bool, limit: Int) throws -> [ItemInfo] {
        try withReading {
            try index.rowPage(after: cursor, bound: bound, reverse: reverse, limit: limit).map { try info($0) }
        }
    }

    /// The keys of the items carrying `tag`, in insertion order (expired items not yet
    /// removed included). Values are never read.
    public func keys(tagged tag: KeyRef) throws -> [StoredKey] {
        try withReading {
            try entries(tagged: tag, among: index.entriesInRowOrder()).map { try storedKey($0) }
        }
    }

    /// The keys of the live (unexpired) items in insertion order: a snapshot.
    public func liveKeys() throws -> [StoredKey] {
        try withReading {
            let now = wallClock()
            return try index.entriesInRowOrder().filter { !index.table.entries[$0].isExpired(at: now) }.map { try storedKey($0) }
        }
    }

    /// Calls `body` with each live item in insertion order, in one read (a snapshot). Items
    /// whose value cannot be read (damaged, file missing) are left out. Neither statistics
    /// nor access records are kept: this is listing, not use.
    public func forEachLiveItem(readFile: (ItemKind) -> Bool = { _ in true }, _ body: (StoredKey, ItemView) throws -> Void) throws {
        try withReading {
            let now = wallClock()
            for i in index.entriesInRowOrder() where !index.table.entries[i].isExpired(at: now) {
                let key = try storedKey(i)
                _ = try withLiveRecord(i, readFile: readFile) { try body(key, $0) }
            }
        }
    }
}
