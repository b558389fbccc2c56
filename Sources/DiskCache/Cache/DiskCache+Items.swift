/// A stored item as seen during `withItem`: the buffers are valid only inside the closure.
public struct ItemView {
    /// How the value was stored: tells how to read `value`.
    public let kind: ItemKind
    /// The value's bytes; empty when the value is in a file that was not read.
    public let value: UnsafeRawBufferPointer
    /// Absolute expire time (seconds since the epoch), nil if the item never expires.
    public let expireTime: Double?
    /// When the item expires (nil: never).
    public var expires: ExpiryTime? { expireTime.map { ExpiryTime(secondsSince1970: $0) } }
    /// The kind of the item's tag; nil if it has none.
    public let tagKind: ItemKind?
    /// The tag's bytes (empty without a tag).
    public let tag: UnsafeRawBufferPointer
    /// The value file's path when the value lives in a file of its own.
    public let filePath: String?
    /// Whether `value` holds the value (false only for an unread file).
    public let isMaterialized: Bool
    /// Size and checksum of an unread value file, for `DiskCache.readValueFile`.
    public var fileSize: Int64 = 0
    var fileCRC: UInt32 = 0
}

/// Where `set` puts a value.
public enum ValueStorage: Sendable {
    /// In a file when at least the `disk_min_file_size` setting, else in the log.
    case automatic
    /// In the log whatever its size.
    case inline
    /// In a file of its own whatever its size.
    case file
}

/// Where the bytes of a value come from.
public enum ValueSource {
    /// In memory, stored inline or in a file as `storage` says.
    case bytes(UnsafeRawBufferPointer, ValueStorage)
    /// Read in chunks (fill the buffer, return the count, 0 at the end) into a file.
    case stream((UnsafeMutableRawBufferPointer) throws -> Int)
    /// A file already written in the cache directory (name relative to it), taken over by
    /// the cache: a python-diskcache `Disk` subclass writes its own files.
    case existingFile(String)
}

extension DiskCache {
    /// Stores a value from any source; with `onlyIfAbsent`, only if no live item is there
    /// (`add`). Returns whether it stored.
    @discardableResult
    public func store(_ key: KeyRef, kind: ItemKind, _ source: ValueSource, expireTime: Double? = nil, tag: KeyRef? = nil, onlyIfAbsent: Bool = false) throws -> Bool {
        try checkKey(key)
        if let ext = try externalValue(for: source) {
            return try storeExternal(key, kind: kind, ext, expireTime: expireTime, tag: tag, onlyIfAbsent: onlyIfAbsent)
        }
        guard case .bytes(let value, _) = source else { return false }
        try checkLength(value.count, "value")
        return try withWriting {
            let now = wallClock()
            if onlyIfAbsent, let i = index.find(key), !index.table[i].isExpired(at: now) { return false }
            putRecord(key, kind: kind, payload: value, external: false, expireTime: expireTime, tag: tag, now: now)
            try cullAfterWrite(now)
            return true
        }
    }

    /// The value file for a source that goes to a file (written or adopted now, before any
    /// lock is taken); nil when the value goes inline.
    func externalValue(for source: ValueSource) throws -> ExternalValue? {
        try checkWritable()
        switch source {
        case .bytes(let value, let storage):
            guard try placeInFile(value.count, storage) else { return nil }
            try NoWait.refuse("writing a value file")
            return try ValueFiles.write(directory: directory, sync: settings.durability == .sync, bytes: value)
        case .stream(let next):
            try NoWait.refuse("writing a value file")
            return try ValueFiles.write(directory: directory, sync: settings.durability == .sync, next)
        case .existingFile(let name):
            try NoWait.refuse("reading a value file")
            return try ValueFiles.adopt(directory: directory, name: name)
        }
    }

    // MARK: Reading

    /// Calls `body` with the live item stored under `key`, or returns nil on a miss (absent,
    /// expired, or damaged on disk: a damaged item is never served).
    ///
    /// - Parameters:
    ///   - key: the key, borrowed (`CacheKey.withRef` makes one).
    ///   - readFile: asked with the value's kind when it lives in a file; return false
    ///     to get its path instead of its bytes.
    ///   - body: given the item; its buffers are valid only during the call.
    ///
    /// Reads of many threads run at once; `body` runs while this read holds the cache shared,
    /// so it may read the cache again but not write to it (that throws `.invalidArgument`).
    public func withItem<R>(_ key: KeyRef, readFile: (ItemKind) -> Bool = { _ in true }, _ body: (ItemView) throws -> R) throws -> R? {
        var accessed = false
        var policy = EvictionPolicy.none
        let result: R? = try withSharedReading {
            policy = settings.policy
            guard let i = index.find(key) else {
                countStat(hit: false)
                return nil
            }
            let e = index.table[i]
            if e.isExpired(at: wallClock()) {
                countStat(hit: false)
                return nil
            }
            let r = try withLiveRecord(i, readFile: readFile, body)
            countStat(hit: r != nil)
            accessed = r != nil
            return r
        }
        if accessed && (policy == .leastRecentlyUsed || policy == .leastFrequentlyUsed) {
            try noteAccess(key)
        }
        return result
    }

    /// Calls `body` with entry `i`'s item, or returns nil if its record is damaged or its
    /// value file is missing (a miss: a damaged item is never served).
    @inline(__always)
    func withLiveRecord<R>(_ i: Int, readFile: (ItemKind) -> Bool, _ body: (ItemView) throws -> R) throws -> R? {
        try withEntryRecord(index.table[i]) { record -> R? in
            guard let record, recordBelongs(record, to: i) else { return nil }
            return try withValue(record, readFile: readFile, body)
        }
    }

    /// Whether a (checksum-verified) record is a put of entry `i`'s key. Guards against
    /// serving another key's intact record if the log under the index was overwritten (as
    /// when local mode is forced on a network share, where locks do not hold).
    @inline(__always)
    func recordBelongs(_ r: RecordView, to i: Int) -> Bool {
        guard r.header.kind == .put else { return false }
        return r.keyRef.withIdentity { cls, bytes in index.table.matches(i, cls, bytes) }
    }

    /// Calls `body` with a verified record of an entry (nil header if it is damaged). The
    /// header's expire time is the entry's: a later `touch` record may have changed it.
    func withEntryRecord<R>(_ e: Entry, _ body: (RecordView?) throws -> R) throws -> R {
        try withEntryRecordAsStored(e) { r in
            var r = r
            r?.header.expireTime = e.expireTime
            return try body(r)
        }
    }

    private func withEntryRecordAsStored<R>(_ e: Entry, _ body: (RecordView?) throws -> R) throws -> R {
        let log = try openLog()
        let length = Int(e.recordLength)
        let place = RecordPlace(salt: log.salt, offset: e.offset)
        if e.offset >= applied.end {
            let start = Int(e.offset - applied.end)
            return try pending.withUnsafeBytes { raw in
                try body(RecordView(decoding: UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)]), at: place))
            }
        }
        if e.offset + Int64(length) <= applied.end, let rec = log.mapped(at: e.offset, count: length) {
            // The log (and its mapping) is held for the call: a nested write that switches
            // segments cannot unmap these bytes.
            return try withExtendedLifetime(log) { try body(RecordView(decoding: rec, at: place)) }
        }
        if scratch.count < length { scratch = [UInt8](repeating: 0, count: max(length, scratch.count * 2)) }
        var n: Int
        do {
            n = try scratch.withUnsafeMutableBytes { try log.read(at: e.offset, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<length])) }
        } catch let error as DiskCacheError where error.errno == .noSuchFileOrDirectory && !holdsExclusive {
            // Part of the log was deleted after two newer compactions: start again from the
            // newest log; this read is a miss.
            guard let head = try log.headAfterLosingTrack() else { throw error }
            try reload(head)
            n = 0
        }
        return try scratch.withUnsafeBytes { raw in
            try body(n == length ? RecordView(decoding: UnsafeRawBufferPointer(rebasing: raw[0..<n]), at: place) : nil)
        }
    }

    func withValue<R>(_ r: RecordView, readFile: (ItemKind) -> Bool, _ body: (ItemView) throws -> R) throws -> R? {
        let h = r.header
        let kind = ItemKind(rawValue: h.valueKind) ?? .blob
        let tag = r.tag
        let tagKind = h.tagKind == 0 ? nil : ItemKind(rawValue: h.tagKind)
        let expire: Double? = h.expireTime.isNaN ? nil : h.expireTime
        let valueBytes = r.value
        guard h.isExternal else {
            return try body(ItemView(kind: kind, value: valueBytes, expireTime: expire, tagKind: tagKind, tag: tag, filePath: nil, isMaterialized: true))
        }
        guard let ext = ExternalValue(valueBytes) else { return nil }
        let path = directory + "/" + ext.name
        if !readFile(kind) {
            guard PathOps.fileSize(path) != nil else { return nil }
            var view = ItemView(kind: kind, value: UnsafeRawBufferPointer(start: nil, count: 0), expireTime: expire, tagKind: tagKind, tag: tag, filePath: path, isMaterialized: false)
            view.fileSize = ext.size
            view.fileCRC = ext.crc
            return try body(view)
        }
        try NoWait.refuse("reading a value file")
        // One buffer per cache, reused: a fresh one per read costs a page fault per 4 KiB. Not
        // under the shared lock: other threads read at the same time.
        let exclusive = mutex.isHeldByCurrentThread
        var buffer: [UInt8] = []
        if exclusive { swap(&buffer, &fileScratch) }
        defer { if exclusive { fileScratch = buffer.count <= 64 << 20 ? buffer : [] } }
        guard ValueFiles.read(directory: directory, ext, into: &buffer) else { return nil }
        return try buffer.withUnsafeBytes { b in
            try body(ItemView(kind: kind, value: UnsafeRawBufferPointer(rebasing: b[0..<Int(ext.size)]), expireTime: expire, tagKind: tagKind, tag: tag, filePath: path, isMaterialized: true))
        }
    }

    /// Reads an unread value file (see `withItem(_:readFile:_:)`) straight into `buffer`,
    /// which must hold `view.fileSize` bytes, verifying its checksum. False if the file is
    /// gone or damaged: treat the item as missing.
    public static func readValueFile(_ view: ItemView, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard let path = view.filePath, buffer.count == Int(view.fileSize) else { return false }
        return ValueFiles.read(path: path, size: Int(view.fileSize), crc: view.fileCRC, into: buffer)
    }

    func externalValue(of e: Entry) throws -> ExternalValue? {
        try withEntryRecord(e) { $0?.externalValue }
    }

    /// Whether a live item is stored under `key`.
    public func contains(_ key: KeyRef) throws -> Bool {
        try withSharedReading {
            guard let i = index.find(key) else { return false }
            return !index.table[i].isExpired(at: wallClock())
        }
    }

    /// Records an access for the least-recently/frequently-used policies. A read does not
    /// wait for another thread's transaction (see `PublishedView`): while one is open, the
    /// access goes unrecorded.
    func noteAccess(_ key: KeyRef) throws {
        try recordAccess { appendAccess(key) }
    }

    /// Runs `append` (of access records) as a write that never waits for another thread: see
    /// `noteAccess`.
    func recordAccess(_ append: () -> Void) throws {
        // Read-only: the access order stays as the writers left it.
        guard !isReadOnly, writer.tryAcquire() else { return }
        defer { writer.release() }
        do {
            try withWriting(append)
        } catch let e as DiskCacheError where e.code == .wouldBlock {
            // The read had its effect (a hit counted): the access goes unrecorded rather than
            // making the read fail, as while another thread has a transaction open.
        }
    }

    /// Appends an access record for a key that is (still) there.
    func appendAccess(_ key: KeyRef) {
        guard index.find(key) != nil else { return }
        var h = RecordHeader(kind: .access)
        h.keyKind = key.kind.rawValue
        h.storeTime = wallClock()
        h.aux = 1
        appendRecord(h, key: key.bytes)
    }

    // MARK: Writing

    /// Stores `value` under `key`, replacing any previous item.
    ///
    /// - Parameters:
    ///   - key: the key, borrowed (`CacheKey.withRef` makes one).
    ///   - kind: how the value's bytes are to be read (`.blob`, `.text`, `.int` ...).
    ///   - value: the value's bytes, copied into the cache.
    ///   - expireTime: absolute time (seconds since the epoch) after which the item is gone.
    ///   - tag: an optional tag for `evict(tag:)`.
    ///   - storage: inline in the log, or in a file of its own.
    public func set(_ key: KeyRef, kind: ItemKind, value: UnsafeRawBufferPointer, expireTime: Double? = nil, tag: KeyRef? = nil, storage: ValueStorage = .automatic) throws {
        try store(key, kind: kind, .bytes(value, storage), expireTime: expireTime, tag: tag)
    }

    /// Stores a value read in chunks by `next` (fills the buffer, returns the count, 0 at the
    /// end) in a file of its own, without holding the whole value in memory.
    public func set(_ key: KeyRef, kind: ItemKind, expireTime: Double? = nil, tag: KeyRef? = nil, streaming next: (UnsafeMutableRawBufferPointer) throws -> Int) throws {
        try withoutActuallyEscaping(next) { next in
            _ = try store(key, kind: kind, .stream(next), expireTime: expireTime, tag: tag)
        }
    }

    /// Stores `value` only if no live item is stored under `key`. Returns whether it stored.
    public func add(_ key: KeyRef, kind: ItemKind, value: UnsafeRawBufferPointer, expireTime: Double? = nil, tag: KeyRef? = nil, storage: ValueStorage = .automatic) throws -> Bool {
        try store(key, kind: kind, .bytes(value, storage), expireTime: expireTime, tag: tag, onlyIfAbsent: true)
    }

    private func placeInFile(_ count: Int, _ storage: ValueStorage) throws -> Bool {
        switch storage {
        case .inline: return false
        case .file: return true
        case .automatic:
            // The setting as this process last saw it: no catch-up needed to place a value,
            // nor waiting for another thread's write.
            return count >= minFileSizeSeen.load(ordering: .relaxed)
        }
    }

    @discardableResult
    private func storeExternal(_ key: KeyRef, kind: ItemKind, _ ext: ExternalValue, expireTime: Double?, tag: KeyRef?, onlyIfAbsent: Bool) throws -> Bool {
        let encoded = ext.encoded()
        do {
            return try withWriting {
                let now = wallClock()
                if onlyIfAbsent, let i = index.find(key), !index.table[i].isExpired(at: now) {
                    removeValueFile(ext.name)
                    return false
                }
                removeOnRollback.append(ext.name)
                encoded.withUnsafeBytes { payload in
                    putRecord(key, kind: kind, payload: payload, external: true, externalSize: ext.size, expireTime: expireTime, tag: tag, now: now)
                }
                try cullAfterWrite(now)
                return true
            }
        } catch {
            removeValueFile(ext.name)
            throw error
        }
    }

    func checkKey(_ key: KeyRef) throws {
        if key.bytes.count > RecordHeader.maxPartLength {
            throw DiskCacheError(.keyTooLarge, "Key of \(key.bytes.count) bytes is larger than the limit of \(RecordHeader.maxPartLength) bytes")
        }
        if (key.kind == .int || key.kind == .float) && key.bytes.count != 8 {
            throw DiskCacheError(.invalidArgument, "Numeric key must be 8 bytes, not \(key.bytes.count)")
        }
    }

    func checkLength(_ count: Int, _ what: String) throws {
        if count > RecordHeader.maxPartLength {
            throw DiskCacheError(.keyTooLarge, "Inline \(what) of \(count) bytes is larger than the limit of \(RecordHeader.maxPartLength) bytes; store it in a file")
        }
    }

    /// Appends a put for `key` (keeping the rowid and key presentation of an existing item)
    /// and schedules the replaced value file for removal.
    func putRecord(_ key: KeyRef, kind: ItemKind, payload: UnsafeRawBufferPointer, external: Bool, externalSize: Int64 = 0, expireTime: Double?, tag: KeyRef?, now: Double, accessCount: Int64 = 0) {
        var h = RecordHeader(kind: .put)
        h.flags = external ? RecordFlags.external : 0
        h.valueKind = kind.rawValue
        h.storeTime = now
        h.expireTime = expireTime ?? .nan
        h.aux = UInt64(bitPattern: accessCount)
        h.tagKind = tag?.kind.rawValue ?? 0
        var keyKind = key.kind
        let keyBytes = key.bytes
        var converted: UInt64 = 0
        // Looked up once: the record's key has the same identity (a converted number too), so
        // applying it reuses this (hash, entry) instead of hashing and probing twice more.
        let known = index.lookup(key)
        if let i = known.entry {
            let existing = index.table[i]
            h.rowid = existing.rowid
            // The stored key keeps the form it was first stored in (SQLite's UPDATE keeps the
            // key column): 1.0 stays 1.0 when later set as 1.
            if existing.keyKind != key.kind.rawValue, let v = key.integerValue, let ek = ItemKind(rawValue: existing.keyKind) {
                keyKind = ek
                converted = ek == .float ? Double(v).bitPattern.littleEndian : UInt64(bitPattern: v.littleEndian)
            }
        } else {
            h.rowid = index.maxRowid + 1
        }
        h.keyKind = keyKind.rawValue
        let tagBytes = tag?.bytes ?? UnsafeRawBufferPointer(start: nil, count: 0)
        let replaced: Entry?
        if keyKind != key.kind {
            replaced = withUnsafeBytes(of: &converted) { appendRecord(h, key: UnsafeRawBufferPointer($0), tag: tagBytes, value: payload, known: known) }
        } else {
            replaced = appendRecord(h, key: keyBytes, tag: tagBytes, value: payload, known: known)
        }
        discard(replaced)
    }

    /// Appends a delete for entry `i` and schedules its value file for removal.
    func deleteEntry(_ i: Int) {
        let (cls, bytes) = index.table.identity(of: i)
        let e = index.table[i]
        discard(e)
        var h = RecordHeader(kind: .delete)
        // The record carries the identity form of the key; replay finds the same entry.
        let kind: ItemKind
        var keyBytes = bytes
        switch cls {
        case .integer: kind = .int
        case .real: kind = .float
        case .text: kind = .text
        case .blob: kind = .blob
        case .pickle: kind = .pickle
        }
        h.keyKind = kind.rawValue
        _ = keyBytes.withUnsafeMutableBytes { appendRecord(h, key: UnsafeRawBufferPointer($0)) }
    }

    /// Removes the live item under `key`. Returns whether there was one.
    @discardableResult
    public func delete(_ key: KeyRef) throws -> Bool {
        try withWriting {
            guard let i = index.find(key), !index.table[i].isExpired(at: wallClock()) else { return false }
            deleteEntry(i)
            return true
        }
    }

    /// Removes the live item under `key`, calling `body` with it first. Nil if there was none.
    public func pop<R>(_ key: KeyRef, _ body: (ItemView) throws -> R) throws -> R? {
        try withWriting {
            guard let i = index.find(key), !index.table[i].isExpired(at: wallClock()) else { return nil }
            let e = index.table[i]
            let r: R? = try withEntryRecord(e) { record in
                guard let record else { return nil }
                return try withValue(record, readFile: { _ in true }, body)
            }
            deleteEntry(i)
            return r
        }
    }

    /// Sets a live item's expire time (nil: never). Returns whether there was a live item.
    public func touch(_ key: KeyRef, expireTime: Double?) throws -> Bool {
        try withWriting {
            guard let i = index.find(key), !index.table[i].isExpired(at: wallClock()) else { return false }
            var h = RecordHeader(kind: .touch)
            h.keyKind = index.table[i].keyKind
            h.expireTime = expireTime ?? .nan
            let (cls, bytes) = index.table.identity(of: i)
            h.keyKind = cls == .integer ? ItemKind.int.rawValue : cls == .real ? ItemKind.float.rawValue : h.keyKind
            _ = bytes.withUnsafeBytes { appendRecord(h, key: $0) }
            return true
        }
    }

    /// The result of `incr`: the new number, integer or float as stored.
    public enum Number: Equatable, Sendable {
        /// An integer.
        case int(Int64)
        /// A float (a float was stored under the key).
        case float(Double)
    }

    /// Adds `delta` to the number stored under `key`, atomically across processes. A missing
    /// or expired key starts from `initial` (nil: returns nil and stores nothing). Expire
    /// time and tag of an existing item are kept.
    ///
    /// - Throws: `.notNumeric` if the stored value is not an int or float, `.invalidArgument`
    ///   on 64-bit overflow.
    public func incr(_ key: KeyRef, by delta: Int64, initial: Int64?) throws -> Number? {
        try checkKey(key)
        return try withWriting {
            let now = wallClock()
            guard let i = index.find(key), !index.table[i].isExpired(at: now) else {
                guard let initial else { return nil }
                let (sum, overflow) = initial.addingReportingOverflow(delta)
                if overflow { throw DiskCacheError(.invalidArgument, "incr overflows a 64-bit integer") }
                var v = sum.littleEndian
                withUnsafeBytes(of: &v) { putRecord(key, kind: .int, payload: $0, external: false, expireTime: nil, tag: nil, now: now) }
                try cullAfterWrite(now)
                return .int(sum)
            }
            let e = index.table[i]
            let (result, tagKind, tagBytes, expire): (Number, UInt8, [UInt8], Double) = try withEntryRecord(e) { r in
                guard let r, !r.header.isExternal else {
                    throw DiskCacheError(.notNumeric, "Value stored under the key is not a number")
                }
                let h = r.header
                let v = r.value
                let tag = Array(r.tag)
                switch ItemKind(rawValue: h.valueKind) {
                case .int where v.count == 8:
                    let (sum, overflow) = Int64(littleEndian: v.loadUnaligned(as: Int64.self)).addingReportingOverflow(delta)
                    if overflow { throw DiskCacheError(.invalidArgument, "incr overflows a 64-bit integer") }
                    return (.int(sum), h.tagKind, tag, h.expireTime)
                case .float where v.count == 8:
                    let d = Double(bitPattern: UInt64(littleEndian: v.loadUnaligned(as: UInt64.self)))
                    return (.float(d + Double(delta)), h.tagKind, tag, h.expireTime)
                default:
                    throw DiskCacheError(.notNumeric, "Value stored under the key is not a number")
                }
            }
            var payload: UInt64
            let kind: ItemKind
            switch result {
            case .int(let v): payload = UInt64(bitPattern: v).littleEndian; kind = .int
            case .float(let d): payload = d.bitPattern.littleEndian; kind = .float
            }
            let counted = e.accessCount + (settings.policy == .leastFrequentlyUsed ? 1 : 0)
            tagBytes.withUnsafeBytes { t in
                let tag = tagKind == 0 ? nil : KeyRef(kind: ItemKind(rawValue: tagKind) ?? .blob, bytes: t)
                withUnsafeBytes(of: &payload) {
                    putRecord(key, kind: kind, payload: $0, external: false, expireTime: expire.isNaN ? nil : expire, tag: tag, now: now, accessCount: counted)
                }
            }
            return result
        }
    }
}
