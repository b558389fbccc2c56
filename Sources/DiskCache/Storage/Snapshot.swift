#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import SystemPackage

/// A copy of the in-memory index as of a point in the log (`snapshot-<segment>.dcs`), so
/// that opening a large cache reads a few arrays and replays only the records after that
/// point instead of the whole log. Derived data only: published atomically, checksummed,
/// checked for structure, and used only while the log it names still holds the point it
/// reaches.
///
/// Layout: a header page of little-endian u64 words (`Word`), then each table page-aligned so
/// the file can be mapped and used in place. The entries and the key arena have room to grow
/// (a sparse tail) so the first insertions after opening do not copy the whole table. Entries
/// are stored as this build lays `Entry` out; the header names that layout field by field
/// (`Entry.layoutDescription`), and a snapshot of another layout is ignored.
///
/// A truncated or replaced snapshot file under a process that has it mapped kills that
/// process with SIGBUS when it touches a missing page, as for the segment (README, "Caveats").
/// The engine never truncates a published snapshot; it replaces them by rename.
enum Snapshot {
    static let prefix = "snapshot-"
    static let suffix = ".dcs"
    static let magic: UInt64 = 0x3330_5041_4E53_4344  // "DCSNAP03"
    static let version: UInt64 = 2
    /// Replays longer than this are worth a snapshot (tests lower it).
    nonisolated(unsafe) static var worthWriting: Int64 = 1 << 20
    static let page = 4096
    /// How many log bytes before the snapshot's end are checksummed into it: the log holds the
    /// point only while those bytes (records bound to their places) are still there.
    static let tailWindow = 4096

    enum Word: Int, CaseIterable {
        case magic, version, layout, segment, salt, end, tailCRC
        case slots, entries, entryCapacity, free, arena, arenaCapacity, settings
        case arenaGarbage, maxRowid, count, volume, liveRecordBytes, hashKey0, hashKey1
        case bodyCRC, headerCRC
    }

    static var headerWords: Int { Word.allCases.count }

    /// `Entry`'s layout, as a checksum of its field-by-field description.
    static let layout = UInt64(Entry.layoutDescription.utf8.withContiguousStorageIfAvailable { dcs_crc32c(0, $0.baseAddress!, $0.count) } ?? 0)

    static func name(_ segment: UInt64) -> String { prefix + String(segment) + suffix }

    static func segment(fromName name: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        return UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
    }

    /// Where each table lies in the file.
    struct Layout {
        var slots: Int, entries: Int, entryCapacity: Int, free: Int, arena: Int, arenaCapacity: Int, settings: Int

        static func align(_ n: Int) -> Int { (n + page - 1) / page * page }
        var slotsOffset: Int { page }
        var entriesOffset: Int { slotsOffset + Layout.align(slots * 8) }
        var arenaOffset: Int { entriesOffset + Layout.align(entryCapacity * MemoryLayout<Entry>.stride) }
        var freeOffset: Int { arenaOffset + Layout.align(arenaCapacity) }
        var settingsOffset: Int { freeOffset + Layout.align(free * 4) }
        var total: Int { settingsOffset + settings }
    }

    /// CRC32C of the log bytes in the window before `end` (0 for an empty log).
    static func tailChecksum(_ log: SegmentFile, end: Int64) -> UInt32? {
        let start = max(0, end - Int64(tailWindow))
        var bytes = [UInt8](repeating: 0, count: Int(end - start))
        guard !bytes.isEmpty else { return 0 }
        guard let n = try? bytes.withUnsafeMutableBytes({ try log.read(at: start, into: $0) }), n == bytes.count else { return nil }
        return bytes.withUnsafeBytes { dcs_crc32c(0, $0.baseAddress!, $0.count) }
    }

    /// Writes the index as of `end` of `log`; best effort (a failure only costs a longer
    /// open). Returns whether it was written.
    @discardableResult
    static func write(directory: String, index: ShardIndex, log: SegmentFile, end: Int64) -> Bool {
        guard let tail = tailChecksum(log, end: end) else { return false }
        let parts = index.table.parts
        var settingRecords: [UInt8] = []
        index.encodeSettings(into: &settingRecords, salt: log.salt, base: 0)
        let layout = Layout(slots: parts.slots.count, entries: parts.entries.count,
                            entryCapacity: parts.entries.count + max(4096, parts.entries.count / 4),
                            free: parts.freeEntries.count, arena: parts.arena.count,
                            arenaCapacity: parts.arena.count + max(65536, parts.arena.count / 4),
                            settings: settingRecords.count)
        var header = [UInt64](repeating: 0, count: headerWords)
        func set(_ w: Word, _ v: UInt64) { header[w.rawValue] = v }
        set(.magic, magic); set(.version, version); set(.layout, self.layout)
        set(.segment, log.id); set(.salt, log.salt); set(.end, UInt64(end)); set(.tailCRC, UInt64(tail))
        set(.slots, UInt64(layout.slots)); set(.entries, UInt64(layout.entries)); set(.entryCapacity, UInt64(layout.entryCapacity))
        set(.free, UInt64(layout.free)); set(.arena, UInt64(layout.arena)); set(.arenaCapacity, UInt64(layout.arenaCapacity))
        set(.settings, UInt64(layout.settings)); set(.arenaGarbage, UInt64(parts.arenaGarbage))
        set(.maxRowid, UInt64(bitPattern: index.maxRowid)); set(.count, UInt64(parts.count))
        set(.volume, UInt64(bitPattern: index.volume)); set(.liveRecordBytes, UInt64(bitPattern: index.liveRecordBytes))
        set(.hashKey0, parts.hashKey.k0); set(.hashKey1, parts.hashKey.k1)
        do {
            try AtomicFile.publish(directory + "/" + name(log.id), sync: false) { fd in
                var crc: UInt32 = 0
                func put(_ b: UnsafeRawBufferPointer, at offset: Int) throws {
                    guard b.count > 0 else { return }
                    crc = dcs_crc32c(crc, b.baseAddress!, b.count)
                    try fd.writeAll(at: Int64(offset), b)
                }
                try parts.slots.withUnsafeBytes { try put($0, at: layout.slotsOffset) }
                try parts.entries.withUnsafeBytes { try put($0, at: layout.entriesOffset) }
                try parts.arena.withUnsafeBytes { try put($0, at: layout.arenaOffset) }
                try parts.freeEntries.withUnsafeBytes { try put($0, at: layout.freeOffset) }
                try settingRecords.withUnsafeBytes { try put($0, at: layout.settingsOffset) }
                header[Word.bodyCRC.rawValue] = UInt64(crc)
                header[Word.headerCRC.rawValue] = UInt64(header.withUnsafeBytes { dcs_crc32c(0, $0.baseAddress!, Word.headerCRC.rawValue * 8) })
                try header.withUnsafeBytes { try fd.writeAll(at: 0, $0) }
                _ = try fd.resize(to: Int64(layout.total))
            }
            return true
        } catch {
            return false
        }
    }

    /// The index as of the snapshot's end, if a valid snapshot of `log` covers no more than
    /// `end` bytes of it and the log still holds what it covers. The tables stay in the file's
    /// (private) mapping: opening costs the checksum and structure pass, not a copy.
    ///
    /// - Throws: `.unsupportedFormat` for an intact snapshot of a newer format.
    static func read(directory: String, log: SegmentFile, upTo end: Int64) throws -> (ShardIndex, Int64)? {
        let path = directory + "/" + name(log.id)
        guard let fd = try? FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) else { return nil }
        defer { try? fd.close() }
        var header = [UInt64](repeating: 0, count: headerWords)
        guard (try? header.withUnsafeMutableBytes({ try fd.readAll(at: 0, $0) })) == headerWords * 8 else { return nil }
        func get(_ w: Word) -> UInt64 { UInt64(littleEndian: header[w.rawValue]) }
        // The header's own checksum first: nothing in it is used before it verifies.
        guard get(.magic) == magic,
              get(.headerCRC) == UInt64(header.withUnsafeBytes { dcs_crc32c(0, $0.baseAddress!, Word.headerCRC.rawValue * 8) })
        else { return nil }
        guard get(.version) == version else {
            throw DiskCacheError(.unsupportedFormat, "Snapshot '\(path)' was written by format version \(get(.version)); this build reads version \(version): open the cache with a newer diskcache-swift")
        }
        // Of another build's entry layout, another log, or past what is published: unusable.
        let limit = UInt64(1) << 40
        guard get(.layout) == layout, get(.segment) == log.id, get(.salt) == log.salt,
              get(.end) <= UInt64(end), [Word.slots, .entries, .entryCapacity, .free, .arena, .arenaCapacity, .settings, .count, .arenaGarbage]
                .allSatisfy({ get($0) < limit })
        else { return nil }
        let snapshotEnd = Int64(get(.end))
        // The log must still hold the point: after it lost its tail and grew back, other
        // records (bound to their places) lie there.
        guard let tail = tailChecksum(log, end: snapshotEnd), UInt64(tail) == get(.tailCRC) else { return nil }
        let layout = Layout(slots: Int(get(.slots)), entries: Int(get(.entries)), entryCapacity: Int(get(.entryCapacity)), free: Int(get(.free)),
                            arena: Int(get(.arena)), arenaCapacity: Int(get(.arenaCapacity)), settings: Int(get(.settings)))
        let count = Int(get(.count))
        guard layout.slots.nonzeroBitCount == 1, count < layout.slots, count <= layout.entries,
              layout.entries <= layout.entryCapacity, layout.arena <= layout.arenaCapacity,
              layout.entryCapacity < Int(limit), Int(get(.arenaGarbage)) <= layout.arena,
              let size = try? fd.fileSize(), size == Int64(layout.total),
              let mapping = FileMapping(fd, length: layout.total) else { return nil }
        guard let checked = checkBody(mapping, layout, count: count, end: snapshotEnd), checked == UInt32(truncatingIfNeeded: get(.bodyCRC)) else { return nil }
        let free = [Int32](UnsafeBufferPointer(start: (mapping.base + layout.freeOffset).assumingMemoryBound(to: Int32.self), count: layout.free))
        var index = ShardIndex()
        index.table = KeyTable(parts: .init(
            slots: LargeArray(mapping: mapping, offset: layout.slotsOffset, count: layout.slots, capacity: layout.slots),
            entries: LargeArray(mapping: mapping, offset: layout.entriesOffset, count: layout.entries, capacity: layout.entryCapacity),
            freeEntries: free,
            arena: LargeArray(mapping: mapping, offset: layout.arenaOffset, count: layout.arena, capacity: layout.arenaCapacity),
            arenaGarbage: Int(get(.arenaGarbage)), count: count,
            hashKey: HashKey(k0: get(.hashKey0), k1: get(.hashKey1))))
        index.maxRowid = Int64(bitPattern: get(.maxRowid))
        index.expiryBuilt = false
        let settings = UnsafeRawBufferPointer(start: mapping.base + layout.settingsOffset, count: layout.settings)
        var pos = 0
        while pos < settings.count, let r = RecordView(decoding: UnsafeRawBufferPointer(rebasing: settings[pos...]), at: RecordPlace(salt: log.salt, offset: Int64(pos))) {
            index.apply(r, offset: 0)
            pos += r.bytes.count
        }
        guard pos == settings.count else { return nil }
        // After the settings (applying them counts their records): the totals as written.
        index.volume = Int64(bitPattern: get(.volume))
        index.liveRecordBytes = Int64(bitPattern: get(.liveRecordBytes))
        return (index, snapshotEnd)
    }

    /// The checksum of the tables, checking their structure on the way (nil if it is broken):
    /// every used slot names an entry of the table and at least one slot is free (so probes
    /// end); every live entry's key lies in the arena and its record in the log before `end`;
    /// every free entry is in the table. (Removal tolerates an entry no slot names: see
    /// `KeyTable.remove`.) Each table is summed and checked in pieces small enough to stay in
    /// the processor's cache between the two, in windows let go of once done, so neither the
    /// pass nor the rest of the process's life holds more than lookups touch; pages come back
    /// from the page cache on use.
    private static func checkBody(_ mapping: FileMapping, _ layout: Layout, count: Int, end: Int64) -> UInt32? {
        var sum = BodySum(mapping: mapping)
        let base = UnsafeRawPointer(mapping.base)
        // Slots: each names an entry of the table (index + 1 in the low half) or is 0.
        var used = 0
        var badSlot = false
        let entries = UInt64(layout.entries)
        sum.pass(layout.slotsOffset, layout.slots * 8, stride: 8) { p, n in
            // Without branches: half the slots are empty, in no order a predictor could learn.
            var u: UInt64 = 0
            var bad: UInt64 = 0
            for i in 0..<n {
                let slot = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i &* 8, as: UInt64.self))
                let used = (slot | (0 &- slot)) >> 63
                let outside: UInt64 = (slot & 0xFFFF_FFFF) &- 1 >= entries ? 1 : 0
                u &+= used
                bad |= used & outside
            }
            used &+= Int(u)
            badSlot = badSlot || bad != 0
        }
        guard !badSlot, used == count, used < layout.slots else { return nil }
        // Entries: fields read from their bytes (a Bool may only be loaded from 0 or 1).
        let stride = MemoryLayout<Entry>.stride
        let fields = EntryFields()
        let arena = layout.arena
        var live = 0
        var badEntry = false
        sum.pass(layout.entriesOffset, layout.entries * stride, stride: stride) { p, n in
            var l = 0
            var bad = false
            var e = p
            for _ in 0..<n {
                let flag = e.load(fromByteOffset: fields.live, as: UInt8.self)
                if flag == 1 {
                    l &+= 1
                    let keyStart = e.loadUnaligned(fromByteOffset: fields.keyStart, as: Int.self)
                    let keyLength = Int(e.loadUnaligned(fromByteOffset: fields.keyLength, as: Int32.self))
                    let recordLength = Int64(e.loadUnaligned(fromByteOffset: fields.recordLength, as: UInt32.self))
                    let offset = e.loadUnaligned(fromByteOffset: fields.offset, as: Int64.self)
                    let externalSize = e.loadUnaligned(fromByteOffset: fields.externalSize, as: Int64.self)
                    bad = bad || keyLength < 1 || keyStart < 0 || keyStart > arena &- keyLength
                        || recordLength < fields.minRecord || offset < 0 || offset > end &- recordLength
                        || externalSize < 0 || externalSize > fields.maxExternal
                } else {
                    bad = bad || flag != 0
                }
                e += stride
            }
            live &+= l
            badEntry = badEntry || bad
        }
        guard !badEntry, live == count else { return nil }
        sum.pass(layout.arenaOffset, layout.arena, stride: 1) { _, _ in }
        // Free entries: in the table, and not live.
        var badFree = false
        sum.pass(layout.freeOffset, layout.free * 4, stride: 4) { p, n in
            for i in 0..<n {
                let f = Int(Int32(littleEndian: p.loadUnaligned(fromByteOffset: i &* 4, as: Int32.self)))
                if f < 0 || UInt64(f) >= entries || base.load(fromByteOffset: layout.entriesOffset + f * stride + fields.live, as: UInt8.self) != 0 {
                    badFree = true
                }
            }
        }
        guard !badFree else { return nil }
        if layout.settings > 0 { sum.crc = dcs_crc32c(sum.crc, base + layout.settingsOffset, layout.settings) }
        return sum.crc
    }

    /// Where `Entry`'s fields lie, and the bounds they are checked against, read once.
    private struct EntryFields {
        let live = Entry.liveOffset, keyStart = Entry.keyStartOffset, keyLength = Entry.keyLengthOffset
        let recordLength = Entry.recordLengthOffset, offset = Entry.offsetOffset, externalSize = Entry.externalSizeOffset
        let maxExternal = ExternalValue.maxSize, minRecord = Int64(RecordHeader.size)
    }

    /// The checksum over a snapshot's tables, taken in pieces small enough to stay in the
    /// processor's cache while they are also checked, in windows let go of once done.
    private struct BodySum {
        let mapping: FileMapping
        var crc: UInt32 = 0

        /// Sums `bytes` at `offset` and hands each piece (its first element, how many) to
        /// `check`.
        mutating func pass(_ offset: Int, _ bytes: Int, stride: Int, _ check: (UnsafeRawPointer, Int) -> Void) {
            let piece = max(stride, (256 << 10) / stride * stride)
            let window = piece * 32
            var at = offset
            let stop = offset + bytes
            while at < stop {
                let n = min(stop - at, window)
                var p = at
                while p < at + n {
                    let m = min(at + n - p, piece)
                    crc = dcs_crc32c(crc, mapping.base + p, m)
                    check(UnsafeRawPointer(mapping.base + p), m / stride)
                    p += m
                }
                let pageStart = at / page * page
                MemoryMap.release(mapping.base + pageStart, length: at + n - pageStart)
                at += n
            }
        }
    }

    /// Removes snapshots of segments other than `keep`.
    static func removeStale(directory: String, keep: UInt64, names: [String]) {
        for n in names {
            if let s = segment(fromName: n), s != keep { try? PathOps.unlink(directory + "/" + n) }
        }
    }
}
