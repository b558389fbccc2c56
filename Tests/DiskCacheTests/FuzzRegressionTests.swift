import Foundation
import Testing
import CDiskCacheSupport
@_spi(Fuzzing) @testable import DiskCache

/// Replays what the libFuzzer target (`scripts/fuzz.sh`) found and starts from: every input
/// kept in `fuzz/regressions/`, the seed segments, and a deterministic sweep of mutations of
/// them, all through `FuzzEntry.run`, the entry point the fuzzer calls. A crash fails the
/// whole test run; the assertions check what those inputs must do.
@Suite(.serialized) struct FuzzRegressionTests {
    static var regressionsDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fuzz/regressions").path
    }

    @Test func savedInputsRunCleanly() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.regressionsDirectory).sorted()
        // The crashes found so far plus a slice of a minimized fuzzing corpus (corpus-*).
        #expect(names.count >= 40)
        for name in names {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.regressionsDirectory + "/" + name)))
            bytes.withUnsafeBytes { FuzzEntry.run($0) }
            // Every flag combination on the same bytes.
            for flags in 0..<32 {
                var input = bytes
                input[0] = UInt8(flags)
                input.withUnsafeBytes { FuzzEntry.run($0) }
            }
        }
    }

    @Test func seedSegmentsRoundTrip() throws {
        let seeds = FuzzEntry.seedSegments()
        #expect(seeds.count == 5)
        for seed in seeds {
            var records = 0
            seed.withUnsafeBytes { raw in
                FuzzEntry.walk(FuzzEntry.records(ofSegmentFile: raw), salt: FuzzEntry.salt(ofSegmentFile: raw), resync: false) { _, _ in records += 1 }
            }
            #expect(records > 0)
            // An unchanged segment is left unchanged by the checksum fixer.
            var fixed = seed
            FuzzEntry.fixChecksums(&fixed)
            #expect(fixed == seed)
            for flags in 0..<16 {
                let input = FuzzEntry.seed(fromSegment: seed, flags: .init(rawValue: UInt8(flags)))
                input.withUnsafeBytes { FuzzEntry.run($0) }
            }
        }
    }

    /// The snapshot seed opens as the index (with its header fixed up to name the base log),
    /// and mutations of it (body bytes changed, checksums recomputed so they get past them)
    /// are caught by the structure checks or used safely: never a crash.
    @Test func snapshotSeedsAndMutationsRunCleanly() throws {
        let seeds = FuzzEntry.seedSnapshots()
        #expect(seeds.count == 1)
        let seed = try #require(seeds.first)
        // Fixed up against a base log, the unmodified seed is used as the index.
        let dir = try #require(FuzzEntry.makeTempDirectory())
        defer { FuzzEntry.removeTree(dir) }
        #expect(FuzzEntry.writeSnapshotBase(dir))
        let segment = try SegmentFile(directory: dir, id: 1, create: false, mappable: false)
        var fixed = seed
        FuzzEntry.fixSnapshot(&fixed, log: segment, end: try segment.dataSize())
        try Data(fixed).write(to: URL(fileURLWithPath: dir + "/" + Snapshot.name(1)))
        let c = try DiskCache(directory: dir)
        #expect(c.snapshotEnd > 0)
        #expect(try c.count() == 41)
        #expect(try c.get(.int(9))?.value == [UInt8](repeating: 9, count: 100))
        try c.close()

        var rng = SplitMix(seed: 0x5A9)
        for round in 0..<200 {
            var snap = seed
            for _ in 0..<(1 + round % 4) {
                // Past the header page most of the time: the tables.
                let i = round % 5 == 0 ? Int(rng.next() % UInt64(Snapshot.headerWords * 8)) : 4096 + Int(rng.next() % UInt64(snap.count - 4096))
                snap[i] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            }
            let flags: FuzzEntry.Flags = round % 3 == 0 ? [.snapshot] : [.snapshot, .fixChecksums]
            ([flags.rawValue] + snap).withUnsafeBytes { FuzzEntry.run($0) }
        }
    }

    /// A small deterministic fuzz run: bytes of every seed changed one at a time, checksums
    /// recomputed (so the change reaches the code that interprets records), decoded; every
    /// 16th also opened as a cache.
    @Test func mutatedSeedsRunCleanly() throws {
        var rng = SplitMix(seed: 0x5EED)
        for seed in FuzzEntry.seedSegments() {
            for round in 0..<120 {
                var segment = seed
                for _ in 0..<(1 + round % 3) {
                    let i = Int(rng.next() % UInt64(segment.count))
                    switch round % 4 {
                    case 0: segment[i] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
                    case 1: segment[i] = [0, 0xFF, 0x7F, 0x80][Int(rng.next() % 4)]
                    case 2: segment.removeSubrange(i..<min(segment.count, i + Int(rng.next() % 16)))
                    default: segment.insert(contentsOf: repeatElement(UInt8(truncatingIfNeeded: rng.next()), count: 8), at: i)
                    }
                    if segment.isEmpty { break }
                }
                var flags: FuzzEntry.Flags = round % 2 == 0 ? [.fixChecksums] : []
                if round % 16 == 0 { flags.formUnion([.openDirectory, .valueFiles]) }
                FuzzEntry.seed(fromSegment: segment, flags: flags).withUnsafeBytes { FuzzEntry.run($0) }
            }
        }
    }

    // MARK: What the saved crashes were

    /// A value-file size field of 2^63 or more trapped converting to Int64 (found by the
    /// fuzzer: `value-file-size-over-int64`). Now the reference is malformed: a miss.
    @Test func valueFileSizeBeyondInt64IsMalformed() throws {
        for size: UInt64 in [1 << 63, .max, UInt64(ExternalValue.maxSize) + 1] {
            var bytes: [UInt8] = []
            withUnsafeBytes(of: size.littleEndian) { bytes.append(contentsOf: $0) }
            bytes += [0, 0, 0, 0] + Array("ab/cd/x.val".utf8)
            #expect(bytes.withUnsafeBytes { ExternalValue($0) } == nil, "size \(size)")
        }
        let ok = ExternalValue(size: 5, crc: 7, name: "ab/cd/x.val").encoded()
        #expect(ok.withUnsafeBytes { ExternalValue($0) }?.size == 5)
    }

    /// A record claiming a value file of ~1.3e18 bytes made the reader allocate that much
    /// before looking at the file (found by the fuzzer: `value-file-size-huge`). Now a size
    /// that does not match the file is a miss, and `check` names it.
    @Test(arguments: [UInt64(1_369_094_286_720_630_916), 1 << 40, 99, 101])
    func valueFileSizeNotMatchingTheFileIsAMiss(claimed: UInt64) throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, minFileSize: 16)
        let value = [UInt8](repeating: 0x5A, count: 100)
        try c.set("big", bytes: value)
        try c.set("small", bytes: [1])
        try c.close()
        // Rewrite the put record of "big" with another size and a valid checksum.
        let segPath = dir + "/" + SegmentFile.name(1)
        var seg = try [UInt8](Data(contentsOf: URL(fileURLWithPath: segPath)))
        var patched = false
        let salt = seg.withUnsafeBytes { FuzzEntry.salt(ofSegmentFile: $0) }
        seg.withUnsafeMutableBytes { file in
            let raw = UnsafeMutableRawBufferPointer(rebasing: file[SegmentHeader.dataStart...])
            var pos = 0
            while pos + RecordHeader.size <= raw.count,
                  let h = RecordHeader.decode(UnsafeRawBufferPointer(rebasing: raw[pos...]), at: RecordPlace(salt: salt, offset: Int64(pos))) {
                if h.kind == .put && h.isExternal {
                    raw.storeBytes(of: claimed.littleEndian, toByteOffset: pos + h.valueOffset, as: UInt64.self)
                    patched = true
                }
                pos += h.totalLength
            }
        }
        #expect(patched)
        FuzzEntry.fixChecksums(&seg)
        try Data(seg).write(to: URL(fileURLWithPath: segPath))
        let reopened = try DiskCache(directory: dir)
        #expect(try reopened.get("big") == nil)
        #expect(try reopened.get("small")?.value == [1])
        let findings = try reopened.check()
        #expect(findings.filter { $0.kind == .damagedValueFile }.count == 1, "\(findings)")
        _ = try reopened.check(fix: true)
        #expect(try reopened.check().isEmpty)
        #expect(try reopened.count() == 1)
    }
}

/// A tiny deterministic generator (the tests must replay the same inputs every run).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension FuzzRegressionTests {
    /// A put whose key claims to be a float but holds 3 bytes (checksum valid) made the queue
    /// tracking read 8 bytes past it (found by the fuzzer under the address sanitizer:
    /// `float-key-shorter-than-8-bytes`). The decoder now rejects numeric keys that are not
    /// 8 bytes, as the writer never produces them: such a record is damage.
    @Test func numericKeyOfWrongLengthIsMalformed() throws {
        for kind in [ItemKind.int, .float] {
            var h = RecordHeader(kind: .put)
            h.keyKind = kind.rawValue
            h.valueKind = ItemKind.blob.rawValue
            var good: [UInt8] = [], bad: [UInt8] = []
            let eight = [UInt8](repeating: 1, count: 8), three: [UInt8] = [1, 2, 3]
            let none = UnsafeRawBufferPointer(start: nil, count: 0)
            eight.withUnsafeBytes { k in [UInt8(9)].withUnsafeBytes { RecordHeader.append(h, key: k, tag: none, value: $0, to: &good, salt: 1, base: 0) } }
            three.withUnsafeBytes { k in [UInt8(9)].withUnsafeBytes { RecordHeader.append(h, key: k, tag: none, value: $0, to: &bad, salt: 1, base: 0) } }
            #expect(good.withUnsafeBytes { RecordHeader.decode($0, at: RecordPlace(salt: 1, offset: 0)) } != nil)
            #expect(bad.withUnsafeBytes { RecordHeader.decode($0, at: RecordPlace(salt: 1, offset: 0)) } == nil, "\(kind)")

            // In a real cache: the record is skipped as damage, the rest is served.
            let dir = makeTempDirectory()
            defer { removeDirectory(dir) }
            do {
                let c = try DiskCache(directory: dir)
                try c.set("before", bytes: [1])
            }
            let segPath = dir + "/" + SegmentFile.name(1)
            let salt = try [UInt8](Data(contentsOf: URL(fileURLWithPath: segPath))).withUnsafeBytes { FuzzEntry.salt(ofSegmentFile: $0) }
            let size = try #require(PathOps.fileSize(segPath)) - Int64(SegmentHeader.dataStart)
            bad = []
            three.withUnsafeBytes { k in [UInt8(9)].withUnsafeBytes { RecordHeader.append(h, key: k, tag: none, value: $0, to: &bad, salt: salt, base: size) } }
            let handle = try #require(FileHandle(forWritingAtPath: segPath))
            handle.seekToEndOfFile()
            handle.write(Data(bad))
            handle.closeFile()
            try FileManager.default.removeItem(atPath: dir + "/control")
            let c = try DiskCache(directory: dir)
            #expect(try c.count() == 1)
            _ = try c.push([7])   // tracks the integer queue over every key
            #expect(try c.get("before")?.value == [1])
        }
    }
}
