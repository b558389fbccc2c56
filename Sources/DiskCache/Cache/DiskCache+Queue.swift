/// Which end of a queue.
public enum QueueSide: Sendable {
    /// An end of a queue: `front` is its lowest key, `back` its highest (push at the back and
    /// pull from the front for first in, first out).
    case front, back
}

extension DiskCache {
    /// The key as stored in an entry's record (its original kind and bytes).
    func storedKey(_ i: Int) throws -> StoredKey {
        let e = index.table.entries[i]
        if let k = try? withEntryRecord(e, { r -> StoredKey? in
            guard let r else { return nil }
            return StoredKey(kind: r.keyRef.kind, bytes: Array(r.key))
        }) {
            return k
        }
        // Damaged record: the identity still names the key.
        let (cls, bytes) = index.table.identity(of: i)
        let kind: ItemKind = cls == .integer ? .int : cls == .real ? .float : cls == .text ? .text : cls == .pickle ? .pickle : .blob
        return StoredKey(kind: kind, bytes: bytes)
    }

    static func queueKey(_ prefix: String?, _ n: Double) -> StoredKey {
        if let prefix {
            let digits = String(Int64(n))
            let text = prefix + "-" + String(repeating: "0", count: max(0, 15 - digits.count)) + digits
            return StoredKey(kind: .text, bytes: Array(text.utf8))
        }
        if let i = exactInt64(n) { return StoredKey(kind: .int, bytes: withUnsafeBytes(of: i.littleEndian) { Array($0) }) }
        return StoredKey(kind: .float, bytes: withUnsafeBytes(of: n.bitPattern.littleEndian) { Array($0) })
    }

    /// Stores `value` under a new key at one end of a queue (python-diskcache's `push`):
    /// integer keys around 500000000000000 without a prefix, `prefix-%015d` text keys with
    /// one. Returns the key.
    public func push(prefix: String?, side: QueueSide, kind: ItemKind, value: UnsafeRawBufferPointer, expireTime: Double? = nil, tag: KeyRef? = nil, storage: ValueStorage = .automatic) throws -> StoredKey {
        try push(prefix: prefix, side: side, kind: kind, .bytes(value, storage), expireTime: expireTime, tag: tag)
    }

    /// `push` with a value from any source.
    public func push(prefix: String?, side: QueueSide, kind: ItemKind, _ source: ValueSource, expireTime: Double? = nil, tag: KeyRef? = nil) throws -> StoredKey {
        let external = try externalValue(for: source)
        do {
            return try withWriting {
                index.trackQueue(prefix)
                let numbers = index.queueNumbers(prefix)!
                let n: Double
                switch side {
                case .back: n = numbers.last.map { $0 + 1 } ?? 500_000_000_000_000
                case .front: n = numbers.first.map { $0 - 1 } ?? 500_000_000_000_000
                }
                let key = DiskCache.queueKey(prefix, n)
                let now = wallClock()
                try key.withRef { k in
                    // Only possible when a number at the queue's end is not an integer: the
                    // next one can collide with a key set by hand. Never overwrite it.
                    if index.find(k) != nil {
                        throw DiskCacheError(.keyExists, "push: key \(n) is already in the cache")
                    }
                    if let ext = external {
                        removeOnRollback.append(ext.name)
                        ext.encoded().withUnsafeBytes { putRecord(k, kind: kind, payload: $0, external: true, externalSize: ext.size, expireTime: expireTime, tag: tag, now: now) }
                    } else if case .bytes(let value, _) = source {
                        try checkLength(value.count, "value")
                        putRecord(k, kind: kind, payload: value, external: false, expireTime: expireTime, tag: tag, now: now)
                    }
                }
                try cullAfterWrite(now)
                return key
            }
        } catch {
            if let ext = external { removeValueFile(ext.name) }
            throw error
        }
    }

    /// Calls `body` with the item at one end of a queue and removes it (`remove`), or leaves
    /// it (peek). Expired items met at the end are removed and skipped, as are items whose
    /// value is missing or damaged. Nil if the queue is empty.
    public func pull<R>(prefix: String?, side: QueueSide, remove: Bool, _ body: (StoredKey, ItemView) throws -> R) throws -> R? {
        if isReadOnly && !remove {
            return try withReading {
                index.trackQueue(prefix)
                let numbers = index.queueNumbers(prefix)?.values ?? []
                let ordered = side == .front ? AnySequence(numbers) : AnySequence(numbers.reversed())
                return try peekReadOnly(ordered.lazy.compactMap { n in DiskCache.queueKey(prefix, n).withRef { self.index.find($0) } }, body)
            }
        }
        return try withWriting {
            index.trackQueue(prefix)
            if NoWait.isActive, let numbers = index.queueNumbers(prefix)?.values {
                let ordered = side == .front ? AnySequence(numbers) : AnySequence(numbers.reversed())
                try refuseIfFirstLiveIsInFile(ordered.lazy.compactMap { n in DiskCache.queueKey(prefix, n).withRef { self.index.find($0) } })
            }
            while true {
                guard let numbers = index.queueNumbers(prefix),
                      let n = side == .front ? numbers.first : numbers.last else { return nil }
                let key = DiskCache.queueKey(prefix, n)
                guard let i = key.withRef({ index.find($0) }) else { return nil }
                let e = index.table.entries[i]
                if e.isExpired(at: wallClock()) {
                    deleteEntry(i)
                    continue
                }
                let stored = try storedKey(i)
                let r: R? = try withEntryRecord(e) { record in
                    guard let record else { return nil }
                    return try withValue(record, readFile: { _ in true }) { try body(stored, $0) }
                }
                if r == nil || remove { deleteEntry(i) }
                if let r { return r }
            }
        }
    }

    /// Calls `body` with the first or last item in insertion order (python-diskcache's
    /// `peekitem`), removing expired items met on the way. Nil if the cache is empty.
    public func peekItem<R>(last: Bool, _ body: (StoredKey, ItemView) throws -> R) throws -> R? {
        if isReadOnly {
            return try withReading { try peekReadOnly(rowOrder(reverse: last), body) }
        }
        return try withWriting {
            if NoWait.isActive { try refuseIfFirstLiveIsInFile(rowOrder(reverse: last)) }
            while true {
                guard let i = index.endOfRowOrder(last: last) else { return nil }
                let e = index.table.entries[i]
                if e.isExpired(at: wallClock()) {
                    deleteEntry(i)
                    continue
                }
                let stored = try storedKey(i)
                let r: R? = try withEntryRecord(e) { record in
                    guard let record else { return nil }
                    return try withValue(record, readFile: { _ in true }) { try body(stored, $0) }
                }
                if let r { return r }
                deleteEntry(i)
            }
        }
    }

    /// Entry numbers in insertion order (or reversed), a page at a time.
    private func rowOrder(reverse: Bool) -> some Sequence<Int> {
        var page: [Int] = []
        var position = 0
        var cursor: Int64? = nil
        return AnyIterator { () -> Int? in
            if position == page.count {
                page = self.index.rowPage(after: cursor, bound: Int64.max, reverse: reverse, limit: 64)
                position = 0
                guard let end = page.last else { return nil }
                cursor = self.index.table.entries[end].rowid
            }
            position += 1
            return page[position - 1]
        }
    }

    /// In "attempt without waiting" mode, refuses before anything changes when the first live
    /// one of `candidates` keeps its value in a file: reading it refuses, and if expired items
    /// before it had been removed by then, rolling that back would wait.
    private func refuseIfFirstLiveIsInFile(_ candidates: some Sequence<Int>) throws {
        for i in candidates {
            let e = index.table.entries[i]
            if e.isExpired(at: wallClock()) { continue }
            guard let external = try withEntryRecord(e, { $0?.header.isExternal }) else { continue }
            if external { throw NoWait.error("reading a value file") }
            return
        }
    }

    /// A read-only cache's peek: the first of `candidates` (entry numbers) that is live,
    /// passing over expired and damaged items, which only a writer removes.
    private func peekReadOnly<R>(_ candidates: some Sequence<Int>, _ body: (StoredKey, ItemView) throws -> R) throws -> R? {
        for i in candidates {
            let e = index.table.entries[i]
            if e.isExpired(at: wallClock()) { continue }
            let stored = try storedKey(i)
            let r: R? = try withEntryRecord(e) { record in
                guard let record else { return nil }
                return try withValue(record, readFile: { _ in true }) { try body(stored, $0) }
            }
            if let r { return r }
        }
        return nil
    }

    /// Up to `limit` keys in insertion order after (or, reversed, before) the rowid `cursor`,
    /// never past `bound` (the snapshot taken when iteration began), with their rowids.
    /// Expired items are included (python-diskcache's iteration does).
    public func keysPage(after cursor: Int64?, bound: Int64, reverse: Bool, limit: Int) throws -> [(rowid: Int64, key: StoredKey)] {
        try withReading {
            let indices = index.rowPage(after: cursor, bound: bound, reverse: reverse, limit: limit)
            return try indices.map { (index.table.entries[$0].rowid, try storedKey($0)) }
        }
    }

    /// The largest rowid now (iteration snapshots it), and the smallest.
    public func rowidBounds() throws -> (min: Int64, max: Int64)? {
        try withReading {
            guard let first = index.endOfRowOrder(last: false), let last = index.endOfRowOrder(last: true) else { return nil }
            return (index.table.entries[first].rowid, index.table.entries[last].rowid)
        }
    }

    /// Every key in SQLite's key order (python-diskcache's `iterkeys`): numbers by value, then
    /// text, then bytes (pickled before raw on equal bytes), each by bytes.
    public func keysInKeyOrder(reverse: Bool = false) throws -> [StoredKey] {
        try withReading {
            var keys = try index.table.liveIndices.map { try storedKey($0) }
            keys.sort(by: StoredKey.sqliteOrder)
            if reverse { keys.reverse() }
            return keys
        }
    }
}

extension StoredKey {
    var numericValue: Double? {
        switch kind {
        case .int: return Double(Int64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }))
        case .float: return Double(bitPattern: UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }))
        default: return nil
        }
    }

    private var sqliteClass: Int {
        switch kind {
        case .int, .float: return 0
        case .text: return 1
        case .blob, .pickle: return 2
        }
    }

    static func sqliteOrder(_ a: StoredKey, _ b: StoredKey) -> Bool {
        if a.sqliteClass != b.sqliteClass { return a.sqliteClass < b.sqliteClass }
        if a.sqliteClass == 0 {
            if a.kind == .int && b.kind == .int {
                return Int64(littleEndian: a.bytes.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }) < Int64(littleEndian: b.bytes.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })
            }
            return a.numericValue! < b.numericValue!
        }
        if a.bytes != b.bytes { return a.bytes.lexicographicallyPrecedes(b.bytes) }
        return a.kind == .pickle && b.kind == .blob
    }
}
