#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import SystemPackage

/// Entry points for the libFuzzer target (`Sources/dc-fuzz`, `scripts/fuzz.sh`) and the
/// regression test that replays its corpus. Not API: it exists so a fuzzer can drive the
/// record decoder and the open path without making their internals public.
///
/// An input is one flags byte followed by the bytes of a segment file, header included (see
/// `Flags`). A seed corpus of real segments therefore needs a zero byte in front
/// (`seed(fromSegment:)`). Records are bound to the salt the header names (or, when the
/// header is damaged, the bytes where it would be).
@_spi(Fuzzing)
public enum FuzzEntry {
    /// What the first byte of an input asks for.
    public struct Flags: OptionSet, Sendable {
        /// The flag bits.
        public let rawValue: UInt8
        /// Flags from their bits.
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Recompute every record's checksum first, so mutations get past the CRC and reach
        /// the code that interprets records (a hostile or buggy writer, not bit rot).
        public static let fixChecksums = Flags(rawValue: 1)
        /// Also open a cache on a directory holding the segment (`openDirectory`).
        public static let openDirectory = Flags(rawValue: 2)
        /// Create the value files external records name (content chosen so that with
        /// `fixChecksums` their size and checksum match).
        public static let valueFiles = Flags(rawValue: 4)
        /// Take a control page from the 40 bytes after the flags (head, stats, writing flag).
        public static let controlPage = Flags(rawValue: 8)
        /// The bytes are an index snapshot, not a segment: it is put beside the segment of a
        /// small cache written by the engine, and a cache opened on that directory. With
        /// `fixChecksums` its header is first made to name that log and both checksums are
        /// recomputed, so mutations reach the structure checks and the tables' use.
        public static let snapshot = Flags(rawValue: 16)
    }

    /// A corpus input that decodes `segment` as it is and opens a cache on it.
    public static func seed(fromSegment segment: [UInt8], flags: Flags = [.openDirectory, .valueFiles]) -> [UInt8] {
        [flags.rawValue] + segment
    }

    /// Runs one fuzz input: decodes it as a segment, and opens a cache on it if its flags ask.
    /// Crashes (traps, sanitizer reports) are the only failures; errors thrown by the engine
    /// for damaged data are the expected outcome and are swallowed.
    public static func run(_ input: UnsafeRawBufferPointer) {
        guard input.count >= 1 else { return }
        let flags = Flags(rawValue: input[0])
        var rest = UnsafeRawBufferPointer(rebasing: input[1...])
        var control: [UInt8]? = nil
        if flags.contains(.controlPage) {
            guard rest.count >= 40 else { return }
            control = Array(rest[0..<40])
            rest = UnsafeRawBufferPointer(rebasing: rest[40...])
        }
        if flags.contains(.snapshot) {
            openDirectory(withSnapshotBytes: Array(rest), fix: flags.contains(.fixChecksums))
            return
        }
        var segment = Array(rest)
        if flags.contains(.fixChecksums) {
            if flags.contains(.valueFiles) { fixValueFileChecksums(&segment) }
            fixChecksums(&segment)
        }
        segment.withUnsafeBytes { decodeSegmentFile($0) }
        if flags.contains(.openDirectory) {
            openDirectory(withSegmentBytes: segment, control: control, valueFiles: flags.contains(.valueFiles))
        }
    }

    // MARK: Decoder only

    /// The salt a segment file's records are bound to (see the type's comment).
    static func salt(ofSegmentFile bytes: UnsafeRawBufferPointer) -> UInt64 {
        if case .header(let h) = SegmentHeader.decode(bytes) { return h.salt }
        return bytes.count >= 32 ? UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self)) : 0
    }

    /// The records part of a segment file.
    static func records(ofSegmentFile bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[min(bytes.count, SegmentHeader.dataStart)...])
    }

    /// Decodes a segment file held in memory the way replay does.
    public static func decodeSegmentFile(_ bytes: UnsafeRawBufferPointer) {
        decodeSegment(records(ofSegmentFile: bytes), salt: salt(ofSegmentFile: bytes))
    }

    /// Decodes a segment's records held in memory the way replay does (both the strict scan
    /// of a tail and the resynchronising scan of the whole log), applies every record to an
    /// index and then exercises what reads the index.
    public static func decodeSegment(_ bytes: UnsafeRawBufferPointer, salt: UInt64) {
        var index = ShardIndex()
        index.bulkLoading = true
        walk(bytes, salt: salt, resync: true) { r, off in
            index.apply(r, offset: off)
            _ = r.externalValue
            _ = r.authenticationTag
        }
        index.finishBulkLoad()
        exercise(&index)
        // Incremental application (tailing), order structures maintained record by record.
        var tailing = ShardIndex()
        _ = tailing.entriesInRowOrder()
        _ = tailing.evictionQueue(access: false)
        _ = tailing.evictionQueue(access: true)
        tailing.trackQueue(nil)
        walk(bytes, salt: salt, resync: false) { r, off in tailing.apply(r, offset: off) }
        exercise(&tailing)
        _ = EffectiveSettings(EffectiveSettings.defaults.merging(index.settings) { _, s in s })
    }

    /// Visits the records of an in-memory segment as replay does (`Segment.scan`).
    static func walk(_ bytes: UnsafeRawBufferPointer, salt: UInt64, resync: Bool, _ body: (RecordView, Int64) -> Void) {
        _ = try? Segment.scan(reading: { offset, buffer in
            let n = min(buffer.count, max(0, bytes.count - Int(offset)))
            if n > 0 { buffer.baseAddress!.copyMemory(from: bytes.baseAddress! + Int(offset), byteCount: n) }
            return n
        }, from: 0, to: Int64(bytes.count), salt: salt, source: "fuzz input", resync: resync) { r, off in body(r, off) }
    }

    private static func exercise(_ index: inout ShardIndex) {
        index.table._checkInvariants()
        for i in index.entriesInRowOrder() {
            _ = index.table.identity(of: i)
            _ = index.table.hashOf(i)
        }
        _ = index.endOfRowOrder(last: true)
        _ = index.endOfRowOrder(last: false)
        _ = index.rowPage(after: nil, bound: .max, reverse: false, limit: 50)
        _ = index.rowPage(after: nil, bound: .max, reverse: true, limit: 50)
        _ = index.oldest(5, access: false)
        _ = index.oldest(5, access: true)
        index.trackQueue(nil)
        index.trackQueue("q")
        _ = index.queueNumbers(nil)
    }

    // MARK: Checksums

    /// Recomputes the checksums of a segment file: its header's copies, then every record
    /// whose claimed length fits, walking by the claimed lengths (a byte at a time where no
    /// record starts).
    public static func fixChecksums(_ segment: inout [UInt8]) {
        segment.withUnsafeMutableBytes { raw in
            for copy in 0..<2 where raw.count >= (copy + 1) * SegmentHeader.size {
                let p = raw.baseAddress! + copy * SegmentHeader.size
                p.storeBytes(of: dcs_crc32c(0, p, 60).littleEndian, toByteOffset: 60, as: UInt32.self)
            }
        }
        let salt = segment.withUnsafeBytes { FuzzEntry.salt(ofSegmentFile: $0) }
        guard segment.count > SegmentHeader.dataStart else { return }
        var records = Array(segment[SegmentHeader.dataStart...])
        sealRecords(&records, salt: salt)
        segment.replaceSubrange(SegmentHeader.dataStart..., with: records)
    }

    /// Recomputes the checksum of every record whose claimed length fits, bound to `salt` and
    /// its offset in `bytes`, walking by the claimed lengths (a byte at a time where no record
    /// starts).
    static func sealRecords(_ bytes: inout [UInt8], salt: UInt64) {
        bytes.withUnsafeMutableBytes { raw in
            var pos = 0
            while pos + RecordHeader.size <= raw.count {
                let rest = UnsafeRawBufferPointer(rebasing: raw[pos...])
                guard let length = RecordHeader.claimedLength(rest), length <= rest.count else { pos += 1; continue }
                let p = raw.baseAddress! + pos
                let crc = dcs_crc32c(RecordPlace(salt: salt, offset: Int64(pos)).seed, p + 8, length - 8)
                p.storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self)
                pos += length
            }
        }
    }

    /// For external records, sets the recorded value-file checksum to that of the content
    /// `writeValueFiles` creates (run before `fixChecksums`).
    static func fixValueFileChecksums(_ segment: inout [UInt8]) {
        guard segment.count > SegmentHeader.dataStart else { return }
        segment.withUnsafeMutableBytes { file in
            let raw = UnsafeMutableRawBufferPointer(rebasing: file[SegmentHeader.dataStart...])
            var pos = 0
            while pos + RecordHeader.size <= raw.count {
                let rest = UnsafeRawBufferPointer(rebasing: raw[pos...])
                guard let length = RecordHeader.claimedLength(rest), length <= rest.count else { pos += 1; continue }
                let p = raw.baseAddress! + pos
                let flags = p.load(fromByteOffset: 14, as: UInt8.self)
                let keyLength = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 20, as: UInt32.self)))
                let tagLength = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt32.self)))
                let valueLength = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 28, as: UInt32.self)))
                let valueOffset = RecordHeader.size + keyLength + tagLength
                if flags & RecordFlags.external != 0, valueLength >= 12, valueOffset + valueLength == length {
                    let size = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: valueOffset, as: UInt64.self))
                    if size <= maxValueFile {
                        let content = valueFileContent(Int(size))
                        let crc = content.withUnsafeBytes { $0.count == 0 ? 0 : dcs_crc32c(0, $0.baseAddress!, $0.count) }
                        p.storeBytes(of: crc.littleEndian, toByteOffset: valueOffset + 8, as: UInt32.self)
                    }
                }
                pos += length
            }
        }
    }

    static let maxValueFile: UInt64 = 1 << 16

    static func valueFileContent(_ size: Int) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    }

    // MARK: Open path

    /// Writes `segment` as `segment-000000000001.dcl` in a fresh temporary directory (with a
    /// control page and value files if given), opens a cache on it and uses it: keys, values,
    /// queue ends, `check`, `check(fix: true)`, a write, a reopen. Removes the directory.
    public static func openDirectory(withSegmentBytes segment: [UInt8], control: [UInt8]? = nil, valueFiles: Bool = false) {
        guard let dir = makeTempDirectory() else { return }
        defer { removeTree(dir) }
        guard writeFile(dir + "/" + SegmentFile.name(1), segment) else { return }
        if let control {
            var page = [UInt8](repeating: 0, count: 4096)
            withUnsafeBytes(of: UInt64(0x3230_4C52_5443_4344).littleEndian) { page.replaceSubrange(0..<8, with: $0) }
            page.replaceSubrange(8..<(8 + min(control.count, 40)), with: control.prefix(40))
            guard writeFile(dir + "/control", page) else { return }
        }
        if valueFiles {
            segment.withUnsafeBytes { file in
                walk(records(ofSegmentFile: file), salt: salt(ofSegmentFile: file), resync: true) { r, _ in
                    guard let ext = r.externalValue,
                          ext.size >= 0, UInt64(ext.size) <= maxValueFile, ext.name.utf8.count <= 120 else { return }
                    let path = dir + "/" + ext.name
                    if let slash = path.lastIndex(of: "/") { try? PathOps.makeDirectories(String(path[..<slash])) }
                    _ = writeFile(path, valueFileContent(Int(ext.size)))
                }
            }
        }
        useCache(dir)
        // Once more on what the first round left (a fixed, compacted, written-to cache).
        useCache(dir)
    }

    private static func useCache(_ dir: String) {
        guard let cache = try? DiskCache(directory: dir) else { return }
        defer { try? cache.close() }
        cache.lockTimeout = .seconds(1)
        var keys: [StoredKey] = []
        if let k = try? cache.keys() { keys = k }
        _ = try? cache.keys(reverse: true)
        for key in keys.prefix(200) {
            _ = try? cache.get(key)
            _ = try? cache.contains(key)
        }
        _ = try? cache.count()
        _ = try? cache.volume()
        _ = try? cache.allSettings()
        _ = try? cache.peekItem(last: true)
        _ = try? cache.peekItem(last: false)
        _ = try? cache.peek()
        _ = try? cache.peek(prefix: "q", side: .back)
        _ = try? cache.keysInKeyOrder()
        _ = try? cache.rowidBounds()
        _ = try? cache.check()
        _ = try? cache.check(fix: true)
        _ = try? cache.expire()
        _ = try? cache.set("fuzz-after", bytes: [1, 2, 3])
        _ = try? cache.incr("fuzz-counter")
        _ = try? cache.push([4, 5, 6])
        _ = try? cache.pull()
        if let k = keys.first { _ = try? cache.delete(k) }
        _ = try? cache.cull()
        _ = try? cache.compact()
        _ = try? cache.check()
    }

    // MARK: Snapshots

    /// The cache every snapshot input is tried against: a few kinds of items, a tag, expiry,
    /// a setting and a delete, written the same way every time.
    static func writeSnapshotBase(_ dir: String) -> Bool {
        guard let cache = try? DiskCache(directory: dir, settings: [SettingName.minFileSize: .int(64)]) else { return false }
        defer { try? cache.close() }
        do {
            for i in 0..<40 { try cache.set(.int(Int64(i)), bytes: [UInt8](repeating: UInt8(i), count: i % 9 == 0 ? 100 : 8), tag: i % 3 == 0 ? "t" : nil) }
            try cache.set("text", text: "value", ttl: .seconds(3600))
            _ = try cache.delete(.int(7))
            _ = try cache.push([1])
            return true
        } catch {
            return false
        }
    }

    /// Real snapshots of the base cache (a seed corpus for `.snapshot` inputs).
    public static func seedSnapshots() -> [[UInt8]] {
        guard let dir = makeTempDirectory() else { return [] }
        defer { removeTree(dir) }
        guard writeSnapshotBase(dir), let cache = try? DiskCache(directory: dir),
              let log = cache.log as? LocalLog, let segment = log.segment else { return [] }
        defer { try? cache.close() }
        guard Snapshot.write(directory: dir, index: cache.index, log: segment, end: cache.applied.end),
              let bytes = readFile(dir + "/" + Snapshot.name(segment.id)) else { return [] }
        return [bytes]
    }

    /// Puts `bytes` as the snapshot of a base cache's segment and opens and uses the cache.
    public static func openDirectory(withSnapshotBytes bytes: [UInt8], fix: Bool) {
        guard let dir = makeTempDirectory() else { return }
        defer { removeTree(dir) }
        guard writeSnapshotBase(dir), let segment = try? SegmentFile(directory: dir, id: 1, create: false, mappable: false),
              let end = try? segment.dataSize() else { return }
        var snap = bytes
        if fix { fixSnapshot(&snap, log: segment, end: end) }
        guard writeFile(dir + "/" + Snapshot.name(1), snap) else { return }
        useCache(dir)
    }

    /// Makes a snapshot's header name `log` up to `end` (where its own end is not below) and
    /// recomputes both checksums, as an engine with a bug (not bit rot) would write it.
    static func fixSnapshot(_ snap: inout [UInt8], log: SegmentFile, end: Int64) {
        let words = Snapshot.headerWords
        guard snap.count >= words * 8 else { return }
        func get(_ w: Snapshot.Word) -> UInt64 { snap.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: w.rawValue * 8, as: UInt64.self)) } }
        func set(_ w: Snapshot.Word, _ v: UInt64) { snap.withUnsafeMutableBytes { $0.storeBytes(of: v.littleEndian, toByteOffset: w.rawValue * 8, as: UInt64.self) } }
        set(.magic, Snapshot.magic)
        set(.version, Snapshot.version)
        set(.layout, Snapshot.layout)
        set(.segment, log.id)
        set(.salt, log.salt)
        let snapEnd = min(get(.end), UInt64(end))
        set(.end, snapEnd)
        set(.tailCRC, UInt64(Snapshot.tailChecksum(log, end: Int64(snapEnd)) ?? 0))
        let limit = UInt64(1) << 24
        let sizes: [Snapshot.Word] = [.slots, .entries, .entryCapacity, .free, .arena, .arenaCapacity, .settings]
        if sizes.allSatisfy({ get($0) < limit }) {
            let layout = Snapshot.Layout(slots: Int(get(.slots)), entries: Int(get(.entries)), entryCapacity: Int(get(.entryCapacity)),
                                         free: Int(get(.free)), arena: Int(get(.arena)), arenaCapacity: Int(get(.arenaCapacity)), settings: Int(get(.settings)))
            // The setting records are bound to the log's salt.
            if layout.settingsOffset + layout.settings <= snap.count {
                var settings = Array(snap[layout.settingsOffset..<(layout.settingsOffset + layout.settings)])
                sealRecords(&settings, salt: log.salt)
                snap.replaceSubrange(layout.settingsOffset..<(layout.settingsOffset + layout.settings), with: settings)
            }
            var crc: UInt32 = 0
            for (offset, count) in [(layout.slotsOffset, layout.slots * 8), (layout.entriesOffset, layout.entries * MemoryLayout<Entry>.stride),
                                    (layout.arenaOffset, layout.arena), (layout.freeOffset, layout.free * 4), (layout.settingsOffset, layout.settings)]
                where count > 0 && offset + count <= snap.count {
                crc = snap.withUnsafeBytes { dcs_crc32c(crc, $0.baseAddress! + offset, count) }
            }
            set(.bodyCRC, UInt64(crc))
        }
        let headerCRC = snap.withUnsafeBytes { dcs_crc32c(0, $0.baseAddress!, Snapshot.Word.headerCRC.rawValue * 8) }
        set(.headerCRC, UInt64(headerCRC))
    }

    // MARK: Seeds

    /// Segments of real caches written by the engine: small and large values, deletes,
    /// touches, tags, expiry, transactions, settings, queues, counters, a clear and a
    /// compaction. Each is the segment file's bytes (value files are not included).
    public static func seedSegments() -> [[UInt8]] {
        var seeds: [[UInt8]] = []
        func capture(_ settings: [String: SettingValue] = [:], _ body: (DiskCache) throws -> Void) {
            guard let dir = makeTempDirectory() else { return }
            defer { removeTree(dir) }
            guard let cache = try? DiskCache(directory: dir, settings: settings) else { return }
            try? body(cache)
            try? cache.close()
            let names = ((try? PathOps.listDirectory(dir)) ?? []).filter { SegmentFile.id(fromName: $0) != nil }.sorted()
            if let name = names.last, let bytes = readFile(dir + "/" + name) { seeds.append(bytes) }
        }
        capture { c in
            try c.set("a", bytes: [1, 2, 3])
            try c.set(.int(42), text: "forty-two")
            try c.set(.float(2.5), int: 7)
            try c.set(.blob([0, 255]), bytes: [], tag: "t")
        }
        capture([SettingName.minFileSize: .int(64)]) { c in
            for i in 0..<6 {
                try c.set(.text("k\(i)"), bytes: valueFileContent(40 + 20 * i), tag: .int(Int64(i % 2)))
            }
            _ = try c.delete("k1")
            _ = try c.touch("k2", ttl: .seconds(3600))
            try c.set("soon", bytes: [9], ttl: .seconds(-1))
            _ = try c.expire()
        }
        capture([SettingName.evictionPolicy: .text(EvictionPolicy.leastFrequentlyUsed.rawValue), SettingName.statistics: .int(1)]) { c in
            try c.set("x", int: 1)
            _ = try c.get("x")
            _ = try c.get("x")
            _ = try c.incr("x", by: 5)
            _ = try c.incr("n")
            try c.transact {
                try c.set("tx1", bytes: [1])
                try c.set("tx2", bytes: [2])
                _ = try c.delete("x")
            }
            try? c.transact {
                try c.set("rolled-back", bytes: [3])
                throw DiskCacheError(.invalidArgument, "roll back")
            }
        }
        capture { c in
            for i in 0..<5 { _ = try c.push([UInt8(i)]) }
            for i in 0..<3 { _ = try c.push([UInt8(i)], prefix: "q", side: .front) }
            _ = try c.pull()
            _ = try c.pull(prefix: "q", side: .back)
            _ = try c.evict(tag: "none")
        }
        capture([SettingName.sizeLimit: .int(3000), SettingName.cullLimit: .int(2)]) { c in
            for i in 0..<40 { try c.set(.int(Int64(i)), bytes: [UInt8](repeating: UInt8(i), count: 200)) }
            _ = try c.cull()
            _ = try c.clear()
            try c.set("after-clear", text: "é✓")
            try c.compact()
            try c.updateSetting("custom", .float(0.25))
        }
        return seeds
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let fd = try? FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) else { return nil }
        defer { try? fd.close() }
        guard let size = try? fd.fileSize() else { return nil }
        var out = [UInt8](repeating: 0, count: Int(size))
        guard let n = try? out.withUnsafeMutableBytes({ try fd.readAll(at: 0, $0) }) else { return nil }
        return Array(out[0..<n])
    }

    // MARK: Files

    static func makeTempDirectory() -> String? {
        let base = PathOps.isDirectory("/dev/shm") ? "/dev/shm" : "/tmp"
        var template = Array("\(base)/dc-fuzz-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { buf -> String? in
            guard let p = mkdtemp(buf.baseAddress!) else { return nil }
            return String(cString: p)
        }
    }

    private static func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
        guard let fd = try? FileDescriptor.open(FilePath(path), .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite]) else { return false }
        defer { try? fd.close() }
        return (try? bytes.withUnsafeBytes { try fd.writeAll(at: 0, $0) }) != nil
    }

    /// Removes a directory tree (no links are ever created in it).
    static func removeTree(_ path: String) {
        if PathOps.isDirectory(path) {
            for name in (try? PathOps.listDirectory(path)) ?? [] { removeTree(path + "/" + name) }
            try? PathOps.rmdir(path)
        } else {
            try? PathOps.unlink(path)
        }
    }
}
