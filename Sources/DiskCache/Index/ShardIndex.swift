/// Everything a process knows about the cache, rebuilt from the log and kept current by
/// applying each new record exactly as the writer did. Deterministic: two processes that
/// applied the same records hold the same index.
struct ShardIndex {
    var table = KeyTable()
    /// Entries in rowid order (insertion order); stale items skipped, compacted when mostly
    /// stale. Built on first use (iteration, peekitem): a cache that is only read and written
    /// never pays for it.
    private var rowOrder: [(rowid: Int64, entry: Int32)]?
    private var rowOrderSorted = true
    /// Eviction orders, likewise built when a cull first needs them.
    private(set) var storeQueue: StampQueue?
    private(set) var accessQueue: StampQueue?
    var expiry = ExpiryHeap()
    /// False while the heap has not been built since a load (built on first use: opening a
    /// large cache does not pay a pass over every entry for it).
    var expiryBuilt = true
    /// Keys of push/pull queues, tracked once a queue operation asks for them.
    var integerQueue: SortedNumbers?
    var textQueues: [String: SortedNumbers] = [:]
    var settings: [String: SettingValue] = [:]
    /// Σ record length of live entries + Σ external file sizes.
    var volume: Int64 = 0
    /// Σ record length of live entries and settings: what compaction keeps.
    var liveRecordBytes: Int64 = 0
    var settingBytes: [String: Int64] = [:]
    var maxRowid: Int64 = 0
    /// During a full replay the order structures are rebuilt once at the end.
    var bulkLoading = false

    var count: Int { table.count }

    @inline(__always)
    func find(_ key: KeyRef) -> Int? {
        lookup(key).entry
    }

    /// Where a key stands in the table: its hash, and its entry if present. A writer that
    /// looked a key up passes this on to `apply`, which then neither hashes nor probes again;
    /// valid until the index next changes.
    struct Lookup {
        let hash: UInt64
        let entry: Int?
    }

    @inline(__always)
    func lookup(_ key: KeyRef) -> Lookup {
        key.withIdentity { cls, bytes in
            let hash = table.hash(cls, bytes)
            return Lookup(hash: hash, entry: table.find(cls, bytes, hash: hash))
        }
    }

    static func isValid(_ item: StampQueue.Item, in table: KeyTable, access: Bool) -> Bool {
        let e = table.entries[Int(item.entry)]
        return e.live && e.rowid == item.rowid && (access ? e.accessTime : e.storeTime) == item.stamp
    }

    // MARK: Applying records

    /// Applies one record: the single place where records change the index, used by replay,
    /// tailing and the writer itself. Returns the entry a put replaced or a delete removed.
    ///
    /// `known` is `lookup` of the record's key made since the index last changed, if the
    /// caller has one.
    @discardableResult
    mutating func apply(_ r: RecordView, offset: Int64, known: Lookup? = nil) -> Entry? {
        let h = r.header
        switch h.kind {
        case .put:
            return applyPut(r, offset: offset, known: known ?? lookup(r.keyRef))
        case .delete:
            return applyDelete(r.keyRef)
        case .touch:
            applyTouch(r.keyRef, expireTime: h.expireTime)
        case .access:
            applyAccess(r.keyRef, time: h.storeTime, countDelta: Int64(bitPattern: h.aux))
        case .clear:
            applyClear()
        case .setting:
            if let v = SettingValue(kind: h.valueKind, bytes: r.value) {
                applySetting(String(decoding: r.key, as: UTF8.self), v, recordLength: h.totalLength)
            }
        case .begin, .commit:
            break
        }
        return nil
    }

    /// Applies a put; returns the entry it replaced, if any (its external file is now garbage).
    @discardableResult
    private mutating func applyPut(_ r: RecordView, offset: Int64, known: Lookup) -> Entry? {
        let h = r.header
        let key = r.keyRef
        var e = Entry()
        e.keyKind = h.keyKind
        e.valueKind = h.valueKind
        e.flags = h.flags
        e.tagHash = h.tagKind == 0 ? 0 : tagHash(kind: h.tagKind, r.tag)
        e.recordLength = UInt32(h.totalLength)
        e.offset = offset
        e.rowid = h.rowid
        e.storeTime = h.storeTime
        e.accessTime = h.storeTime
        e.accessCount = Int64(bitPattern: h.aux)
        e.expireTime = h.expireTime
        if let ext = r.externalValue {
            e.externalSize = ext.size
        }
        maxRowid = max(maxRowid, h.rowid)
        var replaced: Entry?
        let index: Int
        if let i = known.entry {
            replaced = table[i]
            volume -= table[i].volume
            liveRecordBytes -= Int64(table[i].recordLength)
            e.keyStart = table[i].keyStart
            e.keyLength = table[i].keyLength
            e.live = true
            if table[i].rowid != e.rowid {
                rowOrderNoteInsert(i, rowid: e.rowid)
            }
            table[i] = e
            index = i
        } else {
            index = key.withIdentity { cls, bytes in table.insert(cls, bytes, hash: known.hash, entry: e) }
            rowOrderNoteInsert(index, rowid: e.rowid)
            queueNoteInsert(key)
        }
        volume += e.volume
        liveRecordBytes += Int64(e.recordLength)
        if !bulkLoading {
            storeQueue?.push(index, rowid: e.rowid, stamp: e.storeTime)
            accessQueue?.push(index, rowid: e.rowid, stamp: e.accessTime)
            if e.hasExpiry && expiryBuilt { expiry.push(.init(expire: e.expireTime, entry: Int32(index), rowid: e.rowid)) }
        }
        return replaced
    }

    /// Removes a key; returns the removed entry.
    @discardableResult
    mutating func applyDelete(_ key: KeyRef) -> Entry? {
        guard let i = find(key) else { return nil }
        return removeEntry(i, key: key)
    }

    mutating func removeEntry(_ i: Int, key: KeyRef) -> Entry {
        let old = table[i]
        volume -= old.volume
        liveRecordBytes -= Int64(old.recordLength)
        queueNoteRemove(key)
        table.remove(i)
        return old
    }

    mutating func applyTouch(_ key: KeyRef, expireTime: Double) {
        guard let i = find(key) else { return }
        table[i].expireTime = expireTime
        if !bulkLoading && !expireTime.isNaN && expiryBuilt {
            expiry.push(.init(expire: expireTime, entry: Int32(i), rowid: table[i].rowid))
        }
    }

    mutating func applyAccess(_ key: KeyRef, time: Double, countDelta: Int64) {
        guard let i = find(key) else { return }
        table[i].accessTime = time
        table[i].accessCount &+= countDelta
        if !bulkLoading { accessQueue?.push(i, rowid: table[i].rowid, stamp: time) }
    }

    mutating func applyClear() {
        table.removeAll()
        rowOrder = nil
        rowOrderSorted = true
        storeQueue = nil
        accessQueue = nil
        expiry.removeAll()
        expiryBuilt = true
        if integerQueue != nil { integerQueue = SortedNumbers() }
        for k in textQueues.keys { textQueues[k] = SortedNumbers() }
        volume = 0
        liveRecordBytes = settingBytes.values.reduce(0, +)
    }

    mutating func applySetting(_ name: String, _ value: SettingValue, recordLength: Int) {
        settings[name] = value
        liveRecordBytes -= settingBytes[name] ?? 0
        settingBytes[name] = Int64(recordLength)
        liveRecordBytes += Int64(recordLength)
    }

    /// After a replay: the orders and the expiry heap wait until first used.
    mutating func finishBulkLoad() {
        bulkLoading = false
        rowOrder = nil
        storeQueue = nil
        accessQueue = nil
        expiry.removeAll()
        expiryBuilt = false
    }

    /// Builds the expiry heap if it is not current.
    mutating func ensureExpiry() {
        guard !expiryBuilt else { return }
        expiry.removeAll()
        for i in table.entries.indices where table.entries[i].live && table.entries[i].hasExpiry {
            let e = table.entries[i]
            expiry.push(.init(expire: e.expireTime, entry: Int32(i), rowid: e.rowid))
        }
        expiryBuilt = true
    }

    /// The eviction queue for a policy (store order or access order), built if needed.
    mutating func evictionQueue(access: Bool) -> StampQueue {
        if access, let q = accessQueue { return q }
        if !access, let q = storeQueue { return q }
        var items: [StampQueue.Item] = []
        items.reserveCapacity(table.count)
        for i in table.entries.indices where table.entries[i].live {
            let e = table.entries[i]
            items.append(.init(entry: Int32(i), rowid: e.rowid, stamp: access ? e.accessTime : e.storeTime))
        }
        var q = StampQueue()
        q.rebuild(items)
        if access { accessQueue = q } else { storeQueue = q }
        return q
    }

    /// The oldest `count` valid items of an eviction queue.
    mutating func oldest(_ count: Int, access: Bool) -> [StampQueue.Item] {
        var q = evictionQueue(access: access)
        if access { accessQueue = nil } else { storeQueue = nil }
        let table = self.table
        let out = q.oldest(count) { ShardIndex.isValid($0, in: table, access: access) }
        if access { accessQueue = q } else { storeQueue = q }
        return out
    }

    /// Every setting as a record, appended to `out` (for compaction and snapshots), bound to a
    /// log with `salt` in which `out[0]` lies at `base`.
    func encodeSettings(into out: inout [UInt8], salt: UInt64, base: Int64) {
        for (name, value) in settings.sorted(by: { $0.key < $1.key }) {
            var h = RecordHeader(kind: .setting)
            let (kind, bytes) = value.encoded()
            h.keyKind = ItemKind.text.rawValue
            h.valueKind = kind.rawValue
            let nameBytes = Array(name.utf8)
            nameBytes.withUnsafeBytes { n in
                bytes.withUnsafeBytes { RecordHeader.append(h, key: n, tag: UnsafeRawBufferPointer(start: nil, count: 0), value: $0, to: &out, salt: salt, base: base) }
            }
        }
    }

    // MARK: Insertion order

    private mutating func rowOrderNoteInsert(_ index: Int, rowid: Int64) {
        guard rowOrder != nil else { return }
        if let last = rowOrder!.last, last.rowid >= rowid { rowOrderSorted = false }
        rowOrder!.append((rowid, Int32(index)))
    }

    /// Builds the rowid order from the entries the first time it is asked for.
    private mutating func ensureRowOrder() {
        guard rowOrder == nil else { return }
        var order: [(rowid: Int64, entry: Int32)] = []
        order.reserveCapacity(table.count)
        for i in table.entries.indices where table.entries[i].live {
            order.append((table.entries[i].rowid, Int32(i)))
        }
        order.sort { $0.rowid < $1.rowid }
        rowOrder = order
        rowOrderSorted = true
    }

    /// Live entry indices in rowid order, compacting the order list on the way.
    mutating func entriesInRowOrder() -> [Int] {
        sortRowOrder()
        var live: [(rowid: Int64, entry: Int32)] = []
        live.reserveCapacity(table.count)
        var lastRowid = Int64.min
        for item in rowOrder! {
            let e = table.entries[Int(item.entry)]
            if e.live && e.rowid == item.rowid && item.rowid != lastRowid {
                live.append(item)
                lastRowid = item.rowid
            }
        }
        rowOrder = live
        return live.map { Int($0.entry) }
    }

    private mutating func sortRowOrder() {
        ensureRowOrder()
        if !rowOrderSorted { rowOrder!.sort { $0.rowid < $1.rowid }; rowOrderSorted = true }
    }

    @inline(__always)
    private func isCurrent(_ item: (rowid: Int64, entry: Int32)) -> Bool {
        let e = table.entries[Int(item.entry)]
        return e.live && e.rowid == item.rowid
    }

    /// The live entry first or last in rowid order; stale items at that end are dropped.
    mutating func endOfRowOrder(last: Bool) -> Int? {
        sortRowOrder()
        if last {
            while let item = rowOrder!.last {
                if isCurrent(item) { return Int(item.entry) }
                rowOrder!.removeLast()
            }
            return nil
        }
        var skip = 0
        while skip < rowOrder!.count && !isCurrent(rowOrder![skip]) { skip += 1 }
        if skip > 64 { rowOrder!.removeFirst(skip); skip = 0 }
        return skip < rowOrder!.count ? Int(rowOrder![skip].entry) : nil
    }

    /// Up to `limit` live entries after `cursor` (before it when reversed), within `bound`.
    mutating func rowPage(after cursor: Int64?, bound: Int64, reverse: Bool, limit: Int) -> [Int] {
        sortRowOrder()
        let rowOrder = self.rowOrder!
        func lowerBound(_ r: Int64) -> Int {
            var lo = 0, hi = rowOrder.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if rowOrder[mid].rowid < r { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        var out: [Int] = []
        var lastRowid: Int64? = nil
        if reverse {
            // Descending: rowids below the cursor (exclusive), or up to the bound at the start.
            var i = lowerBound(cursor ?? (bound == Int64.max ? bound : bound + 1)) - 1
            while i >= 0 && out.count < limit {
                let item = rowOrder[i]
                if isCurrent(item) && item.rowid != lastRowid { out.append(Int(item.entry)); lastRowid = item.rowid }
                i -= 1
            }
        } else {
            var i = cursor.map { lowerBound($0 == Int64.max ? $0 : $0 + 1) } ?? 0
            while i < rowOrder.count && out.count < limit && rowOrder[i].rowid <= bound {
                let item = rowOrder[i]
                if isCurrent(item) && item.rowid != lastRowid { out.append(Int(item.entry)); lastRowid = item.rowid }
                i += 1
            }
        }
        return out
    }

    // MARK: Queues (push/pull keys)

    /// The queue a key belongs to, if it has the shape of a push/pull key.
    /// Without a prefix any number strictly between 0 and 999999999999999 counts, floats too
    /// (python-diskcache's range query does the same).
    static func queueSlot(of key: KeyRef) -> (prefix: String?, number: Double)? {
        switch key.kind {
        case .int, .float:
            let v: Double
            if key.kind == .int {
                guard let i = key.integerValue else { return nil }
                v = Double(i)
            } else {
                v = Double(bitPattern: UInt64(littleEndian: key.bytes.loadUnaligned(as: UInt64.self)))
            }
            guard v > 0, v < 999_999_999_999_999 else { return nil }
            return (nil, v)
        case .text:
            let b = key.bytes
            guard b.count >= 16, b[b.count - 16] == UInt8(ascii: "-") else { return nil }
            var v: Double = 0
            for i in (b.count - 15)..<b.count {
                let c = b[i]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Double(c - 0x30)
            }
            let prefix = String(decoding: UnsafeRawBufferPointer(rebasing: b[0..<(b.count - 16)]), as: UTF8.self)
            return (prefix, v)
        default:
            return nil
        }
    }

    private mutating func queueNoteInsert(_ key: KeyRef) {
        if integerQueue == nil && textQueues.isEmpty { return }
        guard let (prefix, v) = ShardIndex.queueSlot(of: key) else { return }
        if let prefix {
            textQueues[prefix]?.insert(v)
        } else {
            integerQueue?.insert(v)
        }
    }

    private mutating func queueNoteRemove(_ key: KeyRef) {
        if integerQueue == nil && textQueues.isEmpty { return }
        guard let (prefix, v) = ShardIndex.queueSlot(of: key) else { return }
        if let prefix {
            textQueues[prefix]?.remove(v)
        } else {
            integerQueue?.remove(v)
        }
    }

    /// Starts tracking a queue: one scan over the keys, then kept current by every apply.
    mutating func trackQueue(_ prefix: String?) {
        if prefix == nil ? integerQueue != nil : textQueues[prefix!] != nil { return }
        var numbers = SortedNumbers()
        var found: [Double] = []
        for i in table.entries.indices where table.entries[i].live {
            let (cls, bytes) = table.identity(of: i)
            let kind: ItemKind = cls == .integer ? .int : cls == .real ? .float : cls == .text ? .text : .blob
            bytes.withUnsafeBytes { raw in
                if let slot = ShardIndex.queueSlot(of: KeyRef(kind: kind, bytes: raw)), slot.prefix == prefix {
                    found.append(slot.number)
                }
            }
        }
        for v in found.sorted() { numbers.insert(v) }
        if let prefix { textQueues[prefix] = numbers } else { integerQueue = numbers }
    }

    func queueNumbers(_ prefix: String?) -> SortedNumbers? {
        prefix == nil ? integerQueue : textQueues[prefix!]
    }
}

/// 32-bit hash of a tag (never 0, which means "no tag").
func tagHash(kind: UInt8, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
    let ref = KeyRef(kind: ItemKind(rawValue: kind) ?? .blob, bytes: bytes)
    let h = ref.withIdentity { stableHash($0, $1) }
    return UInt32(truncatingIfNeeded: h) | 1
}
