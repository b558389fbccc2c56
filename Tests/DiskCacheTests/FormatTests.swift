import CDiskCacheSupport
import Foundation
import Testing
@testable import DiskCache

/// On-disk format v2: versions, records bound to their place, a checked head and snapshots
/// that name the log they index. Each test here failed with format v1 (the repros of issue 9
/// in ../shared/repros show the same defects from Python).
@Suite(.serialized) struct FormatTests {
    /// rev-r3: the head packed the segment id into 24 bits, so a cache whose segment id reached
    /// 2^24 (one per compaction) could not open. Ids and offsets are full 64-bit words now.
    @Test func segmentIDsBeyond2To40Open() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let id: UInt64 = 1 << 40
        _ = FileManager.default.createFile(atPath: dir + "/" + SegmentFile.name(id), contents: nil)
        do {
            let c = try DiskCache(directory: dir)
            try c.set("a", int: 1)
            #expect(c.applied.segment == id)
            let other = try DiskCache(directory: dir)
            try other.set("b", int: 2)
            #expect(try c.get("b")?.int == 2)
            try c.compact()
            #expect(c.applied.segment == id + 1)
            #expect(try other.get("a")?.int == 1)
            try other.set("c", int: 3)
            #expect(try c.get("c")?.int == 3)
        }
        let c = try DiskCache(directory: dir)
        #expect(try c.count() == 3)
        #expect(try files(dir).contains(SegmentFile.name(id + 1)))
    }

    /// rev-r4: replay resynchronises after damage by looking for the magic; a record copied into
    /// a value (here: a real put of "a" from earlier in the same log) was adopted after one
    /// flipped bit in the record around it. Its checksum is bound to its original place now.
    @Test func aRecordCopiedIntoAValueIsNeverAdopted() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        var copied: [UInt8] = []
        do {
            let c = try DiskCache(directory: dir)
            try c.set("a", int: 666)
            let found = bytes("a").withUnsafeBytes { c.index.find(KeyRef(kind: .text, bytes: $0)) }
            let e = c.index.table[try #require(found)]
            copied = Array(try read(dir + "/" + SegmentFile.name(1))[(SegmentHeader.dataStart + Int(e.offset))...].prefix(Int(e.recordLength)))
            try c.set("a", int: 1)
            try c.set("payload", bytes: bytes("user bytes ") + copied + bytes(" more user bytes"))
            try c.set("z", int: 26)
        }
        let path = dir + "/" + SegmentFile.name(1)
        var seg = try read(path)
        let at = try #require(seg.indices.first { seg[$0...].starts(with: bytes("payload")) })
        seg[at] ^= 1
        try write(path, seg)
        try FileManager.default.removeItem(atPath: dir + "/control")
        try removeSnapshots(dir)
        let c = try DiskCache(directory: dir)
        #expect(try c.get("a")?.int == 1)
        #expect(try c.get("payload") == nil)
        #expect(try c.get("z")?.int == 26)
        let findings = try c.check()
        #expect(findings.contains { $0.kind == .damagedRecord }, "\(findings)")
    }

    /// adv-r06: one flipped bit in the control page's published head cut the log at the
    /// (wrong) head on the next open. Every bit of the head's words, one at a time: the head
    /// fails its checksum, the log is recovered like one whose control file was lost.
    @Test func aFlippedBitInTheControlPageHeadCutsNothing() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        do {
            let c = try DiskCache(directory: dir)
            for i in 0..<300 { try c.set(.int(Int64(i)), bytes: [UInt8](repeating: 7, count: 60)) }
        }
        try removeSnapshots(dir)
        let control = try read(dir + "/control")
        let segment = try read(dir + "/" + SegmentFile.name(1))
        // Words 1...4: sequence, segment id, end, checksum.
        for bit in stride(from: 8 * 8, to: 5 * 64, by: 3) {
            var page = control
            page[bit / 8] ^= UInt8(1 << (bit % 8))
            try write(dir + "/control", page)
            let c = try DiskCache(directory: dir)
            #expect(try c.count() == 300, "bit \(bit)")
            try c.close()
            #expect(try read(dir + "/" + SegmentFile.name(1)) == segment, "bit \(bit)")
            try removeSnapshots(dir)
        }
    }

    /// adv-r05: one flipped bit in a snapshot's header crashed every later open (a size field
    /// multiplied before the checksum was looked at). Every byte of the header, one bit each:
    /// the snapshot is ignored (or, where the bit is in an unused word, still fine) and the
    /// A snapshot whose checksums are right but whose tables point out of bounds (a buggy or
    /// adv-r07: after the log lost its tail (or was deleted) and grew back past the old
    /// adv-r13: a snapshot writer killed mid-write left `snapshot-N.dcs.<pid>.tmp` (about the
    /// index's size) that nothing removed. Writes leave no temporary behind, and an open
    /// adv-r15: the index hash was unkeyed; keys crafted for it all collided. Now it is keyed
    /// per index: the same identity hashes differently in two indexes, and 16-byte keys built
    /// to collide under the old multiply-xor construction (differences cancelled between
    /// words) do not collide.
    @Test func theIndexHashIsKeyed() throws {
        let a = KeyTable(), b = KeyTable()
        let key = bytes("same key")
        let ha = key.withUnsafeBytes { a.hash(.text, $0) }, hb = key.withUnsafeBytes { b.hash(.text, $0) }
        #expect(ha != hb)
        var hashes = Set<UInt64>()
        for i in 0..<1000 {
            var words: (UInt64, UInt64) = (UInt64(i & 1) << 63, UInt64(i & 1) << 32 | UInt64(i >> 1))
            hashes.insert(withUnsafeBytes(of: &words) { a.hash(.blob, $0) })
        }
        #expect(hashes.count == 1000)
        let snapshotKey = a.parts.hashKey
        #expect(KeyTable(parts: a.parts).hash(.text, UnsafeRawBufferPointer(start: nil, count: 0)) == keyedHash(.text, UnsafeRawBufferPointer(start: nil, count: 0), key: snapshotKey))
    }

    /// A file written by a newer format is refused with an error naming it and its version, and
    /// left as it is (never treated as damage and compacted away).
    @Test func aNewerSegmentIsRefusedAndLeftAlone() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        do {
            let c = try DiskCache(directory: dir)
            try c.set("a", int: 1)
        }
        let path = dir + "/" + SegmentFile.name(1)
        var seg = try read(path)
        for copy in 0..<2 {
            seg.withUnsafeMutableBytes { p in
                p.storeBytes(of: UInt32(3).littleEndian, toByteOffset: copy * 64 + 8, as: UInt32.self)
                p.storeBytes(of: dcs_crc32c(0, p.baseAddress! + copy * 64, 60).littleEndian, toByteOffset: copy * 64 + 60, as: UInt32.self)
            }
        }
        try write(path, seg)
        try FileManager.default.removeItem(atPath: dir + "/control")
        do {
            _ = try DiskCache(directory: dir)
            Issue.record("opened a segment of format version 3")
        } catch let e as DiskCacheError {
            #expect(e.code == .unsupportedFormat)
            #expect(e.message.contains(path) && e.message.contains("version 3"), "\(e.message)")
        }
        #expect(try read(path) == seg)
    }

    @Test func aNewerRecordIsRefusedAndNothingIsCut() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        do {
            let c = try DiskCache(directory: dir)
            try c.set("a", int: 1)
            // A record of a later version (an unknown kind 42), bound to its place.
            var h = RecordHeader(kind: .put)
            h.keyKind = ItemKind.text.rawValue
            var rec: [UInt8] = []
            bytes("b").withUnsafeBytes { k in
                RecordHeader.append(h, key: k, tag: UnsafeRawBufferPointer(start: nil, count: 0), value: UnsafeRawBufferPointer(start: nil, count: 0),
                                    to: &rec, salt: c.segment!.salt, base: c.applied.end)
            }
            rec[12] = 3
            rec[13] = 42
            let crc = rec.withUnsafeBytes { dcs_crc32c(RecordPlace(salt: c.segment!.salt, offset: c.applied.end).seed, $0.baseAddress! + 8, $0.count - 8) }
            rec.withUnsafeMutableBytes { $0.storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self) }
            let handle = try #require(FileHandle(forWritingAtPath: dir + "/" + SegmentFile.name(1)))
            handle.seekToEndOfFile()
            handle.write(Data(rec))
            handle.closeFile()
        }
        let path = dir + "/" + SegmentFile.name(1)
        let before = try read(path)
        try FileManager.default.removeItem(atPath: dir + "/control")
        do {
            _ = try DiskCache(directory: dir)
            Issue.record("opened a log holding a record of format version 3")
        } catch let e as DiskCacheError {
            #expect(e.code == .unsupportedFormat)
            #expect(e.message.contains(path) && e.message.contains("version 3"), "\(e.message)")
        }
        #expect(try read(path) == before)
    }

    /// The format's boundaries (a snapshot, a segment switch by compaction, a reopen after
}

/// The snapshot-related format tests share `SnapshotTests`' serialization: they set
/// `Snapshot.worthWriting`, which the snapshot tests depend on.
extension SnapshotTests {
    /// cache opens with everything.
    @Test func aFlippedBitInASnapshotHeaderIsIgnored() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir); Snapshot.worthWriting = 1 << 20 }
        Snapshot.worthWriting = 0
        do {
            let c = try DiskCache(directory: dir)
            for i in 0..<200 { try c.set(.int(Int64(i)), int: Int64(i)) }
            try c.close()
        }
        Snapshot.worthWriting = 1 << 40
        let name = try #require(try files(dir).first { $0.hasPrefix("snapshot-") })
        let original = try read(dir + "/" + name)
        for byte in 0..<(Snapshot.headerWords * 8) {
            var snap = original
            snap[byte] ^= UInt8(1 << (byte % 8))
            try write(dir + "/" + name, snap)
            let c = try DiskCache(directory: dir)
            #expect(c.snapshotEnd == 0, "byte \(byte) was not noticed")
            #expect(try c.count() == 200)
            #expect(try c.get(.int(199))?.int == 199)
        }
    }

    /// hostile writer) is refused by the structure check instead of being used.
    @Test func aSnapshotWithOutOfBoundsTablesIsRefused() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir); Snapshot.worthWriting = 1 << 20 }
        Snapshot.worthWriting = 0
        do {
            let c = try DiskCache(directory: dir)
            for i in 0..<50 { try c.set(.int(Int64(i)), int: Int64(i)) }
            try c.close()
        }
        Snapshot.worthWriting = 1 << 40
        let name = try #require(try files(dir).first { $0.hasPrefix("snapshot-") })
        var snap = try read(dir + "/" + name)
        func word(_ w: Snapshot.Word) -> Int { Int(snap.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: w.rawValue * 8, as: UInt64.self) }) }
        let layout = Snapshot.Layout(slots: word(.slots), entries: word(.entries), entryCapacity: word(.entryCapacity), free: word(.free),
                                     arena: word(.arena), arenaCapacity: word(.arenaCapacity), settings: word(.settings))
        // The first live entry's key start: far past the arena.
        let entry = layout.entriesOffset
        snap.withUnsafeMutableBytes { $0.storeBytes(of: Int(1 << 40), toByteOffset: entry + MemoryLayout<Entry>.offset(of: \Entry.keyStart)!, as: Int.self) }
        // Checksums recomputed as the writer would.
        var crc: UInt32 = 0
        for (offset, count) in [(layout.slotsOffset, layout.slots * 8), (layout.entriesOffset, layout.entries * MemoryLayout<Entry>.stride),
                                (layout.arenaOffset, layout.arena), (layout.freeOffset, layout.free * 4), (layout.settingsOffset, layout.settings)] where count > 0 {
            crc = snap.withUnsafeBytes { dcs_crc32c(crc, $0.baseAddress! + offset, count) }
        }
        snap.withUnsafeMutableBytes { p in
            p.storeBytes(of: UInt64(crc), toByteOffset: Snapshot.Word.bodyCRC.rawValue * 8, as: UInt64.self)
            let h = UInt64(dcs_crc32c(0, p.baseAddress!, Snapshot.Word.headerCRC.rawValue * 8))
            p.storeBytes(of: h, toByteOffset: Snapshot.Word.headerCRC.rawValue * 8, as: UInt64.self)
        }
        try write(dir + "/" + name, snap)
        let c = try DiskCache(directory: dir)
        #expect(c.snapshotEnd == 0)
        #expect(try c.count() == 50)
        #expect(try c.keys().count == 50)
    }

    /// snapshot's end, that snapshot was trusted again: acknowledged writes vanished.
    @Test(arguments: ["truncate", "delete"])
    func aSnapshotOfALogThatLostItsTailIsNotUsed(_ how: String) throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir); Snapshot.worthWriting = 1 << 20 }
        Snapshot.worthWriting = 64 << 10
        do {
            let c = try DiskCache(directory: dir)
            for i in 0..<3000 { try c.set(.text("old\(i)"), text: String(repeating: "o", count: 60)) }
            try c.close()
        }
        #expect(try files(dir).contains { $0.hasPrefix("snapshot-") })
        let path = dir + "/" + SegmentFile.name(1)
        if how == "truncate" {
            try FileHandle(forWritingTo: URL(fileURLWithPath: path)).truncate(atOffset: 32 << 10)
        } else {
            try FileManager.default.removeItem(atPath: path)
        }
        Snapshot.worthWriting = 1 << 40
        do {
            let c = try DiskCache(directory: dir)
            for i in 0..<4000 { try c.set(.text("new\(i)"), text: String(repeating: "n", count: 60)) }
        }
        let c = try DiskCache(directory: dir)
        #expect(c.snapshotEnd == 0)
        #expect((0..<4000).allSatisfy { (try? c.get(.text("new\($0)"))) != nil })
        #expect(try c.count() == c.keys().count)
        #expect(try c.check().isEmpty)
    }

    /// removes those of dead processes.
    @Test func snapshotTemporariesAreNotLeftBehind() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir); Snapshot.worthWriting = 1 << 20 }
        Snapshot.worthWriting = 0
        do {
            let c = try DiskCache(directory: dir)
            for i in 0..<100 { try c.set(.int(Int64(i)), int: Int64(i)) }
            try c.close()
        }
        #expect(try files(dir).contains { $0.hasPrefix("snapshot-") })
        #expect(try !files(dir).contains { $0.hasSuffix(".tmp") })
        // A leftover of a process that no longer exists (pid 2^22 + 1 is above pid_max's
        // default), and one of a live process (this one's parent), which must be kept.
        let dead = dir + "/snapshot-1.dcs.4194305.tmp", live = dir + "/snapshot-1.dcs.\(getppid()).tmp"
        _ = FileManager.default.createFile(atPath: dead, contents: Data(count: 4096))
        _ = FileManager.default.createFile(atPath: live, contents: Data(count: 4096))
        _ = try DiskCache(directory: dir)
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(FileManager.default.fileExists(atPath: live))
    }

    /// each) change nothing that is read.
    @Test func everyBoundaryReadsIdentically() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir); Snapshot.worthWriting = 1 << 20 }
        Snapshot.worthWriting = 0
        func contents(_ c: DiskCache) throws -> [String] {
            try c.keys().map { k in "\(k)=\(try c.get(k)?.value ?? [])" }
        }
        let c = try DiskCache(directory: dir, minFileSize: 64)
        for i in 0..<300 { try c.set(.int(Int64(i)), bytes: [UInt8](repeating: UInt8(i & 255), count: i % 7 == 0 ? 100 : 10), tag: i % 2 == 0 ? "even" : nil) }
        for i in stride(from: 0, to: 300, by: 3) { try c.delete(.int(Int64(i))) }
        try c.transact { try c.set("tx", text: "in a transaction") }
        let expected = try contents(c)
        try c.close()
        let afterSnapshot = try DiskCache(directory: dir)
        #expect(afterSnapshot.snapshotEnd > 0)
        #expect(try contents(afterSnapshot) == expected)
        try afterSnapshot.compact()
        #expect(try contents(afterSnapshot) == expected)
        try afterSnapshot.close()
        let afterCompaction = try DiskCache(directory: dir)
        #expect(afterCompaction.applied.segment == 2)
        #expect(try contents(afterCompaction) == expected)
        #expect(try afterCompaction.evict(tag: "even") == 100)
        #expect(try afterCompaction.check().isEmpty)
    }
}

private func files(_ dir: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir).sorted() }

private func read(_ path: String) throws -> [UInt8] { try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) }

private func write(_ path: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

private func removeSnapshots(_ dir: String) throws {
    for name in try files(dir) where name.hasPrefix("snapshot-") { try FileManager.default.removeItem(atPath: dir + "/" + name) }
}
