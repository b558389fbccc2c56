extension DiskCache {
    /// python-diskcache's auto-cull after a write, in the same write: up to `cull_limit`
    /// expired items (soonest expiry first), then, if the policy evicts and the cache is at or
    /// over its size limit, as many items as the remaining budget in policy order.
    func cullAfterWrite(_ now: Double) throws {
        var budget = settings.cullLimit
        if budget <= 0 { return }
        budget -= removeExpired(before: now, limit: budget, strictlyPositive: false)
        if budget <= 0 || settings.policy == .none || index.volume < settings.sizeLimit { return }
        for i in victims(budget) { deleteEntry(i) }
    }

    /// Deletes up to `limit` items whose expire time is before `now`, soonest first.
    @discardableResult
    func removeExpired(before now: Double, limit: Int, strictlyPositive: Bool) -> Int {
        var removed = 0
        index.ensureExpiry()
        while removed < limit, let m = index.expiry.min {
            let e = index.table.entries[Int(m.entry)]
            guard e.live && e.rowid == m.rowid && e.expireTime == m.expire else {
                index.expiry.popMin()
                continue
            }
            if m.expire >= now { break }
            index.expiry.popMin()
            if strictlyPositive && !(m.expire > 0) { continue }
            deleteEntry(Int(m.entry))
            removed += 1
        }
        return removed
    }

    /// The next `count` entries the eviction policy gives up, oldest first.
    func victims(_ count: Int) -> [Int] {
        switch settings.policy {
        case .none:
            return []
        case .leastRecentlyStored:
            return index.oldest(count, access: false).map { Int($0.entry) }
        case .leastRecentlyUsed:
            return index.oldest(count, access: true).map { Int($0.entry) }
        case .leastFrequentlyUsed:
            // A scan: the policy is rare and a frequency heap would need updating on every get.
            let live = index.table.liveIndices
            return Array(live.sorted {
                let a = index.table.entries[$0], b = index.table.entries[$1]
                return a.accessCount != b.accessCount ? a.accessCount < b.accessCount : a.rowid < b.rowid
            }.prefix(count))
        }
    }

    /// Removes every item that expired before `time`. Returns the count removed.
    @discardableResult
    public func expire(asOf time: ExpiryTime) throws -> Int {
        try expire(now: time.secondsSince1970)
    }

    /// Removes every item whose expire time (Unix seconds) is before `now` (default: the
    /// current time; python-diskcache: only positive expire times). Returns the count removed.
    public func expire(now: Double? = nil) throws -> Int {
        try withWriting {
            let t = now ?? wallClock()
            var removed = 0
            while true {
                let n = removeExpired(before: t, limit: 1000, strictlyPositive: true)
                removed += n
                if n < 1000 { break }
            }
            // Items with expire times <= 0 are skipped by the heap walk above when strictly
            // positive is asked; they stay, as in python-diskcache.
            rebuildExpiryHeap()
            return removed
        }
    }

    func rebuildExpiryHeap() {
        index.expiryBuilt = false
        index.ensureExpiry()
    }

    /// Removes expired items, then (unless the policy is `none`) evicts in policy order while
    /// the volume exceeds the size limit. Returns the count removed; 0 for policy `none`
    /// (python-diskcache's rule).
    public func cull() throws -> Int {
        let expired = try expire()
        return try withWriting {
            if settings.policy == .none { return 0 }
            var removed = expired
            while index.volume > settings.sizeLimit {
                let v = victims(10)
                if v.isEmpty { break }
                for i in v { deleteEntry(i) }
                removed += v.count
            }
            return removed
        }
    }

    /// Removes every item carrying `tag`. Returns the count removed.
    public func evict(tag: KeyRef) throws -> Int {
        let wanted = tagHash(kind: tag.kind.rawValue, tag.bytes)
        let wantedIdentity = tag.withIdentity { cls, bytes in (cls, Array(bytes)) }
        return try withWriting {
            var removed = 0
            for i in index.table.liveIndices where index.table.entries[i].tagHash == wanted {
                let same: Bool = try withEntryRecord(index.table.entries[i]) { r in
                    guard let t = r?.tagRef else { return false }
                    return t.withIdentity { cls, bytes in cls == wantedIdentity.0 && Array(bytes) == wantedIdentity.1 }
                }
                if same {
                    deleteEntry(i)
                    removed += 1
                }
            }
            return removed
        }
    }

    /// Removes every item. Returns the count removed.
    public func clear() throws -> Int {
        try withWriting {
            let n = index.count
            for i in index.table.liveIndices { discard(index.table.entries[i]) }
            var h = RecordHeader(kind: .clear)
            h.storeTime = wallClock()
            appendRecord(h, key: UnsafeRawBufferPointer(start: nil, count: 0))
            return n
        }
    }
}
