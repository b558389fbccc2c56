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
    static let magic: UInt64 = 0x3130_5041_4E53_4344  // "DCSNAP01"
    /// Entries are stored as raw memory: a build with another layout must not read them.
    static let layout = UInt64(MemoryLayout<Entry>.stride) | UInt64(MemoryLayout<Entry>.alignment) << 16 | 1 << 32
    /// Replays longer than this are worth a snapshot (tests lower it).
    nonisolated(unsafe) static var worthWriting: Int64 = 32 << 20
    static let headerWords = 12

    static func name(_ segment: UInt64) -> String { prefix + String(segment) + suffix }

    static func segment(fromName name: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        return UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
    }

    /// Writes the index as of `head`; best effort (a failure only costs a longer open).
    static func write(directory: String, index: ShardIndex, head: LogHead) {
        let parts = index.table.parts
        var settingRecords: [UInt8] = []
        index.encodeSettings(into: &settingRecords)
        let path = directory + "/" + name(head.segment)
        let temp = path + ".\(getpid()).tmp"
        guard let fd = try? FileDescriptor.open(FilePath(temp), .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead]) else { return }
        var ok = true
        var offset = Int64(headerWords * 8)
        var crc: UInt32 = 0
        func put(_ b: UnsafeRawBufferPointer) {
            guard ok, b.count > 0 else { return }
            crc = dcs_crc32c(crc, b.baseAddress!, b.count)
            do { try fd.writeAll(at: offset, b) } catch { ok = false }
            offset += Int64(b.count)
        }
        parts.slots.withUnsafeBytes(put)
        parts.entries.withUnsafeBytes(put)
        parts.freeEntries.withUnsafeBytes(put)
        parts.arena.withUnsafeBytes(put)
        settingRecords.withUnsafeBytes(put)
        let header: [UInt64] = [
            magic, layout, head.segment, UInt64(head.end),
            UInt64(parts.slots.count), UInt64(parts.entries.count), UInt64(parts.freeEntries.count), UInt64(parts.arena.count),
            UInt64(settingRecords.count), UInt64(parts.arenaGarbage), UInt64(bitPattern: index.maxRowid), UInt64(crc),
        ]
        header.withUnsafeBytes { b in
            do { try fd.writeAll(at: 0, b) } catch { ok = false }
        }
        try? fd.close()
        if ok, (try? PathOps.rename(temp, path)) != nil { return }
        try? PathOps.unlink(temp)
    }

    /// The index as of the snapshot's end, if a valid snapshot of `segment` covers no more
    /// than `end` bytes of it.
    static func read(directory: String, segment: UInt64, upTo end: Int64) -> (ShardIndex, Int64)? {
        let path = directory + "/" + name(segment)
        guard let fd = try? FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) else { return nil }
        defer { try? fd.close() }
        var header = [UInt64](repeating: 0, count: headerWords)
        guard (try? header.withUnsafeMutableBytes({ try fd.readAll(at: 0, $0) })) == headerWords * 8,
              header[0] == magic, header[1] == layout, header[2] == segment, Int64(header[3]) <= end else { return nil }
        var offset = Int64(headerWords * 8)
        var crc: UInt32 = 0
        var ok = true
        func load<T>(_ type: T.Type, _ count: UInt64) -> [T] {
            guard ok, count < 1 << 40 else { ok = false; return [] }
            let n = Int(count)
            if n == 0 { return [] }
            let array = [T](unsafeUninitializedCapacity: n) { buffer, initialized in
                let raw = UnsafeMutableRawBufferPointer(buffer)
                if (try? fd.readAll(at: offset, raw)) != raw.count { ok = false; raw.initializeMemory(as: UInt8.self, repeating: 0) }
                crc = dcs_crc32c(crc, raw.baseAddress!, raw.count)
                initialized = n
            }
            offset += Int64(n * MemoryLayout<T>.stride)
            return array
        }
        let slots = load(UInt64.self, header[4])
        let entries = load(Entry.self, header[5])
        let free = load(Int32.self, header[6])
        let arena = load(UInt8.self, header[7])
        let settingRecords = load(UInt8.self, header[8])
        guard ok, UInt64(crc) == header[11], slots.count.nonzeroBitCount == 1 else { return nil }
        var index = ShardIndex()
        let count = entries.reduce(0) { $0 + ($1.live ? 1 : 0) }
        index.table = KeyTable(parts: .init(slots: slots, entries: entries, freeEntries: free, arena: arena, arenaGarbage: Int(header[9]), count: count))
        index.maxRowid = Int64(bitPattern: header[10])
        for e in entries where e.live {
            index.volume += e.volume
            index.liveRecordBytes += Int64(e.recordLength)
        }
        var pos = 0
        settingRecords.withUnsafeBytes { raw in
            while pos < raw.count, let h = RecordHeader.decode(UnsafeRawBufferPointer(rebasing: raw[pos...])) {
                DiskCache.apply(h, UnsafeRawBufferPointer(rebasing: raw[pos..<(pos + h.totalLength)]), 0, to: &index)
                pos += h.totalLength
            }
        }
        return (index, Int64(header[3]))
    }

    /// Removes snapshots of segments other than `keep`.
    static func removeStale(directory: String, keep: UInt64, names: [String]) {
        for n in names {
            if let s = segment(fromName: n), s != keep { try? PathOps.unlink(directory + "/" + n) }
        }
    }
}
