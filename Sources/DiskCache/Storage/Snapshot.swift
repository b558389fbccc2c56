#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import SystemPackage

/// A copy of the in-memory index as of a point in the log (`snapshot-<segment>.dcs`), so
/// that opening a large cache reads a few arrays and replays only the records after that
/// point instead of the whole log. Derived data only: written to a private name and renamed,
/// checksummed, ignored when it does not match the log or this build's layout.
enum Snapshot {
    static let prefix = "snapshot-"
    static let suffix = ".dcs"
    static let magic: UInt64 = 0x3230_5041_4E53_4344  // "DCSNAP02"
    /// Entries are stored as raw memory: a build with another layout must not read them.
    static let layout = UInt64(MemoryLayout<Entry>.stride) | UInt64(MemoryLayout<Entry>.alignment) << 16 | 2 << 32
    /// Replays longer than this are worth a snapshot (tests lower it).
    nonisolated(unsafe) static var worthWriting: Int64 = 1 << 20
    static let headerWords = 17
    static let page = 4096

    static func name(_ segment: UInt64) -> String { prefix + String(segment) + suffix }

    static func segment(fromName name: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        return UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
    }

    /// The file's layout: a header page, then each table page-aligned so the file can be
    /// mapped and used in place. The entries and the key arena have room to grow (a sparse
    /// tail) so the first insertions after opening do not copy the whole table.
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

    /// Writes the index as of `head`; best effort (a failure only costs a longer open).
    static func write(directory: String, index: ShardIndex, head: LogHead) {
        let parts = index.table.parts
        var settingRecords: [UInt8] = []
        index.encodeSettings(into: &settingRecords)
        let layout = Layout(slots: parts.slots.count, entries: parts.entries.count,
                            entryCapacity: parts.entries.count + max(4096, parts.entries.count / 4),
                            free: parts.freeEntries.count, arena: parts.arena.count,
                            arenaCapacity: parts.arena.count + max(65536, parts.arena.count / 4),
                            settings: settingRecords.count)
        let path = directory + "/" + name(head.segment)
        let temp = path + ".\(getpid()).tmp"
        guard let fd = try? FileDescriptor.open(FilePath(temp), .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: CreationMode.file) else { return }
        var ok = true
        var crc: UInt32 = 0
        func put(_ b: UnsafeRawBufferPointer, at offset: Int) {
            guard ok, b.count > 0 else { return }
            crc = dcs_crc32c(crc, b.baseAddress!, b.count)
            do { try fd.writeAll(at: Int64(offset), b) } catch { ok = false }
        }
        parts.slots.withUnsafeBytes { put($0, at: layout.slotsOffset) }
        parts.entries.withUnsafeBytes { put($0, at: layout.entriesOffset) }
        parts.arena.withUnsafeBytes { put($0, at: layout.arenaOffset) }
        parts.freeEntries.withUnsafeBytes { put($0, at: layout.freeOffset) }
        settingRecords.withUnsafeBytes { put($0, at: layout.settingsOffset) }
        var header: [UInt64] = [
            magic, self.layout, head.segment, UInt64(head.end),
            UInt64(layout.slots), UInt64(layout.entries), UInt64(layout.entryCapacity), UInt64(layout.free),
            UInt64(layout.arena), UInt64(layout.arenaCapacity), UInt64(layout.settings), UInt64(parts.arenaGarbage),
            UInt64(bitPattern: index.maxRowid), UInt64(parts.count), UInt64(bitPattern: index.volume), UInt64(bitPattern: index.liveRecordBytes), 0,
        ]
        header.withUnsafeBytes { crc = dcs_crc32c(crc, $0.baseAddress!, 16 * 8) }
        header[16] = UInt64(crc)
        header.withUnsafeBytes { b in
            do { try fd.writeAll(at: 0, b) } catch { ok = false }
        }
        if ok { ok = (try? fd.resize(to: Int64(layout.total))) != nil }
        try? fd.close()
        if ok, (try? PathOps.rename(temp, path)) != nil { return }
        try? PathOps.unlink(temp)
    }

    /// The index as of the snapshot's end, if a valid snapshot of `segment` covers no more
    /// than `end` bytes of it. The tables stay in the file's (private) mapping: opening costs
    /// the checksum pass, not a copy.
    static func read(directory: String, segment: UInt64, upTo end: Int64) -> (ShardIndex, Int64)? {
        let path = directory + "/" + name(segment)
        guard let fd = try? FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) else { return nil }
        defer { try? fd.close() }
        var header = [UInt64](repeating: 0, count: headerWords)
        guard (try? header.withUnsafeMutableBytes({ try fd.readAll(at: 0, $0) })) == headerWords * 8,
              header[0] == magic, header[1] == layout, header[2] == segment, Int64(header[3]) <= end,
              header[4...10].allSatisfy({ $0 < 1 << 40 }) else { return nil }
        let layout = Layout(slots: Int(header[4]), entries: Int(header[5]), entryCapacity: Int(header[6]), free: Int(header[7]),
                            arena: Int(header[8]), arenaCapacity: Int(header[9]), settings: Int(header[10]))
        guard layout.slots.nonzeroBitCount == 1, layout.entries <= layout.entryCapacity, layout.arena <= layout.arenaCapacity,
              let size = try? fd.fileSize(), size == Int64(layout.total),
              let mapping = FileMapping(fd, length: layout.total) else { return nil }
        var crc: UInt32 = 0
        // In windows, each let go of once summed (none is written yet), so neither the
        // pass nor the rest of the process's life holds more than lookups touch; pages come
        // back from the page cache on use.
        func sum(_ offset: Int, _ bytes: Int) {
            var at = offset
            let end = offset + bytes
            while at < end {
                let n = min(end - at, 8 << 20)
                crc = dcs_crc32c(crc, mapping.base + at, n)
                let pageStart = at / page * page
                _ = madvise(mapping.base + pageStart, (at + n) / page * page - pageStart, MADV_DONTNEED)
                at += n
            }
        }
        sum(layout.slotsOffset, layout.slots * 8)
        sum(layout.entriesOffset, layout.entries * MemoryLayout<Entry>.stride)
        sum(layout.arenaOffset, layout.arena)
        sum(layout.freeOffset, layout.free * 4)
        sum(layout.settingsOffset, layout.settings)
        header.withUnsafeBytes { crc = dcs_crc32c(crc, $0.baseAddress!, 16 * 8) }
        guard UInt64(crc) == header[16] else { return nil }
        let free = [Int32](UnsafeBufferPointer(start: (mapping.base + layout.freeOffset).assumingMemoryBound(to: Int32.self), count: layout.free))
        var index = ShardIndex()
        index.table = KeyTable(parts: .init(
            slots: LargeArray(mapping: mapping, offset: layout.slotsOffset, count: layout.slots, capacity: layout.slots),
            entries: LargeArray(mapping: mapping, offset: layout.entriesOffset, count: layout.entries, capacity: layout.entryCapacity),
            freeEntries: free,
            arena: LargeArray(mapping: mapping, offset: layout.arenaOffset, count: layout.arena, capacity: layout.arenaCapacity),
            arenaGarbage: Int(header[11]), count: Int(header[13])))
        index.maxRowid = Int64(bitPattern: header[12])
        index.expiryBuilt = false
        let settings = UnsafeRawBufferPointer(start: mapping.base + layout.settingsOffset, count: layout.settings)
        var pos = 0
        while pos < settings.count, let h = RecordHeader.decode(UnsafeRawBufferPointer(rebasing: settings[pos...])) {
            DiskCache.apply(h, UnsafeRawBufferPointer(rebasing: settings[pos..<(pos + h.totalLength)]), 0, to: &index)
            pos += h.totalLength
        }
        // After the settings (applying them counts their records): the totals as written.
        index.volume = Int64(bitPattern: header[14])
        index.liveRecordBytes = Int64(bitPattern: header[15])
        return (index, Int64(header[3]))
    }

    /// Removes snapshots of segments other than `keep`.
    static func removeStale(directory: String, keep: UInt64, names: [String]) {
        for n in names {
            if let s = segment(fromName: n), s != keep { try? PathOps.unlink(directory + "/" + n) }
        }
    }
}
