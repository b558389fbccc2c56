import Foundation
import Testing
@testable import DiskCache

/// Network-filesystem mode, exercised on a local directory (the coordination uses only
/// mkdir, rename and new file names, so it behaves the same here; the two-mount rigs in
/// tests/python/test_netfs.py run it through sshfs and SMB).
@Suite(.serialized) struct NetworkModeTests {
    @Test func basicOperationsAndReopen() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        do {
            let c = try DiskCache(directory: dir, network: true)
            #expect(c.isNetworkMode)
            try c.set("a", text: "1")
            try c.set("b", bytes: [UInt8](repeating: 7, count: 100_000))
            #expect(try c.incr("n", by: 5) == 5)
            #expect(try c.incr("n", by: 2) == 7)
            #expect(try c.delete("a"))
            #expect(try !c.delete("a"))
            try c.transact {
                try c.set("t1", int: 1)
                try c.set("t2", int: 2)
            }
        }
        // Detected from the directory's marker, without being asked.
        let c = try DiskCache(directory: dir)
        #expect(c.isNetworkMode)
        #expect(try c.get("a") == nil)
        #expect(try c.get("b")?.value == [UInt8](repeating: 7, count: 100_000))
        #expect(try c.get("n")?.int == 7)
        #expect(try c.get("t2")?.int == 2)
        #expect(try c.count() == 4)
        #expect(try c.check().isEmpty)
    }

    @Test func localModeRefusesANetworkDirectoryAndTheReverse() throws {
        let net = makeTempDirectory()
        let local = makeTempDirectory()
        defer { removeDirectory(net); removeDirectory(local) }
        _ = try DiskCache(directory: net, network: true)
        #expect(throws: DiskCacheError.self) { try DiskCache(directory: net, network: false) }
        try DiskCache(directory: local).set("x", int: 1)
        #expect(throws: DiskCacheError.self) { try DiskCache(directory: local, network: true) }
        #expect(try !DiskCache(directory: local).isNetworkMode)
    }

    @Test func detectsFilesystems() throws {
        #expect(!FilesystemKind.isNetwork(NSTemporaryDirectory()))
        #expect(!FilesystemKind.isNetwork("/dev/shm"))
        #expect(FilesystemKind.mountType(of: "/proc") == "proc")
    }

    @Test func secondInstanceSeesWritesWithinThePollInterval() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let a = try DiskCache(directory: dir, network: true)
        let b = try DiskCache(directory: dir, network: true)
        #expect(try b.get("k") == nil)
        try a.set("k", text: "v1")
        usleep(10_000)  // > the 5 ms poll interval
        #expect(try b.get("k")?.text == "v1")
        // Writes always catch up first: b's incr builds on a's value.
        try a.set("n", int: 10)
        #expect(try b.incr("n", by: 1) == 11)
        usleep(10_000)
        #expect(try a.get("n")?.int == 11)
    }

    @Test func processesIncrementExactly() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        _ = try DiskCache(directory: dir, network: true)
        let children = try (0..<3).map { _ in try startChild(["incr", dir, "counter", "400"]) }
        for c in children {
            c.waitUntilExit()
            #expect(c.terminationStatus == 0)
        }
        let c = try DiskCache(directory: dir)
        #expect(c.isNetworkMode)
        #expect(try c.get("counter")?.int == 1200)
        // 1200+ writes passed several checkpoints: old batches are gone, state is intact.
        let batches = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".dcb") }
        #expect(batches.count < 1200)
        #expect(try c.check().isEmpty)
    }

    @Test func abandonedClaimIsTakenOverAfterTheLeaseAndTheLateWriterFails() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let slow = try DiskCache(directory: dir, network: true, lease: .seconds(0.3))
        let other = try DiskCache(directory: dir, network: true, lease: .seconds(0.3))
        try slow.set("before", int: 1)
        try slow.beginTransaction()
        try slow.set("lost", int: 1)
        let start = Date()
        try other.set("winner", int: 2)  // waits out the lease, then abandons slow's claim
        let waited = Date().timeIntervalSince(start)
        #expect(waited >= 0.3 && waited < 5, "waited \(waited) s")
        #expect(throws: DiskCacheError.self) { try slow.endTransaction(commit: true) }
        // The late writer lost its write and knows it; both agree on the state.
        usleep(10_000)
        for c in [slow, other] {
            #expect(try c.get("lost") == nil)
            #expect(try c.get("winner")?.int == 2)
            #expect(try c.get("before")?.int == 1)
        }
        try slow.set("after", int: 3)
        usleep(10_000)
        #expect(try other.get("after")?.int == 3)
    }

    @Test func crashedClaimerDoesNotBlockBeyondTheLease() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, network: true, lease: .seconds(0.2))
        try c.set("x", int: 1)
        // A host died right after claiming the next batch.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        let last = names.compactMap { NetworkLog.number(fromName: $0, prefix: "b-", suffix: ".dcb") }.max()!
        try FileManager.default.createDirectory(atPath: dir + "/" + NetworkLog.claimName(last + 1), withIntermediateDirectories: false)
        let start = Date()
        try c.set("y", int: 2)
        #expect(Date().timeIntervalSince(start) >= 0.2)
        let fresh = try DiskCache(directory: dir, network: true)
        #expect(try fresh.get("y")?.int == 2)
        #expect(try fresh.get("x")?.int == 1)
    }

    @Test func staleInstanceCatchesUpAcrossCheckpoints() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let writer = try DiskCache(directory: dir, network: true)
        let stale = try DiskCache(directory: dir, network: true)
        try writer.set("keep", text: "old")
        usleep(10_000)
        #expect(try stale.get("keep")?.text == "old")
        // Three compactions: the batches the stale instance would read next are deleted.
        for round in 0..<3 {
            for i in 0..<50 { try writer.set(.text("k\(i)"), int: Int64(round * 100 + i)) }
            try writer.compact()
        }
        try writer.set("keep", text: "new")
        usleep(300_000)  // idle: the next read checks whether it was left behind
        #expect(try stale.get("keep")?.text == "new")
        #expect(try stale.get("k7")?.int == 207)
        #expect(try stale.count() == 51)
        try stale.set("from-stale", int: 1)
        usleep(10_000)
        #expect(try writer.get("from-stale")?.int == 1)
    }

    @Test func damagedBatchLosesOnlyItsRecords() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, network: true)
        try c.set("a", text: "1")
        try c.set("b", text: "2")
        try c.set("c", text: "3")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".dcb") }.sorted()
        // Flip a byte in the batch holding "b" (the second-to-last one).
        let victim = dir + "/" + names[names.count - 2]
        var data = try Data(contentsOf: URL(fileURLWithPath: victim))
        data[data.count - 3] ^= 0xFF
        try data.write(to: URL(fileURLWithPath: victim))
        let fresh = try DiskCache(directory: dir, network: true)
        #expect(try fresh.get("a")?.text == "1")
        #expect(try fresh.get("b") == nil)
        #expect(try fresh.get("c")?.text == "3")
        try fresh.set("d", text: "4")
        #expect(try DiskCache(directory: dir).get("d")?.text == "4")
    }

    @Test func anotherKeysIntactRecordUnderTheIndexIsAMiss() throws {
        // What two hosts in local mode on one share do to each other: one appends over the
        // other's record. The record is intact (its checksum holds) but belongs to another key.
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, network: false)
        try c.set("a", text: "value-of-a")
        try c.set("b", text: "value-of-b")
        let ia = bytes("a").withUnsafeBytes { c.index.find(KeyRef(kind: .text, bytes: $0)) }!
        let ib = bytes("b").withUnsafeBytes { c.index.find(KeyRef(kind: .text, bytes: $0)) }!
        let ea = c.index.table[ia], eb = c.index.table[ib]
        #expect(ea.recordLength == eb.recordLength)
        let path = dir + "/" + SegmentFile.name(c.applied.segment)
        let fh = FileHandle(forUpdatingAtPath: path)!
        try fh.seek(toOffset: UInt64(eb.offset) + UInt64(SegmentHeader.dataStart))
        let recordB = try fh.read(upToCount: Int(eb.recordLength))!
        try fh.seek(toOffset: UInt64(ea.offset) + UInt64(SegmentHeader.dataStart))
        try fh.write(contentsOf: recordB)
        try fh.close()
        #expect(try c.get("a") == nil)
        #expect(try c.get("b")?.text == "value-of-b")
    }
}
