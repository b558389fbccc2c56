import Foundation
import Testing
@testable import DiskCache

/// `DiskCache(directory:readOnly: true)`: reads, follows writers, writes nothing.
@Suite struct ReadOnlyTests {
    /// Every path under `dir` with its size and modification time.
    func listing(_ dir: String) -> [String: String] {
        var out: [String: String] = [:]
        let fm = FileManager.default
        for path in (fm.enumerator(atPath: dir)?.allObjects as? [String] ?? []) + ["."] {
            let a = try? fm.attributesOfItem(atPath: dir + "/" + path)
            out[path] = "\(a?[.size] ?? 0) \((a?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
        }
        return out
    }

    func expectReadOnly(_ body: () throws -> Void) {
        do {
            try body()
            Issue.record("a write to a read-only cache did not throw")
        } catch let e as DiskCacheError {
            #expect(e.code == .readOnly)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func readsFollowWritersAndWritesThrow() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let writer = try DiskCache(directory: dir)
        try writer.set("a", text: "alpha")
        try writer.set("big", bytes: [UInt8](repeating: 7, count: 100_000))
        _ = try writer.push(bytes("q1"), prefix: "q")
        try writer.set("gone", text: "soon", ttl: .milliseconds(1))
        _ = try writer.push(bytes("q2"), prefix: "q")
        let before = listing(dir)

        let reader = try DiskCache(directory: dir, readOnly: true)
        #expect(reader.isReadOnly)
        #expect(try reader.get("a")?.text == "alpha")
        #expect(try reader.get("big")?.value.count == 100_000)
        #expect(try reader.peek(prefix: "q")?.1.value == bytes("q1"))
        usleep(5_000)
        // The expired item at the end is passed over, not removed.
        #expect(try reader.peekItem(last: true)?.1.value == bytes("q2"))
        #expect(try reader.count() == 5)

        expectReadOnly { try reader.set("b", text: "beta") }
        expectReadOnly { try reader.set("b", bytes: [UInt8](repeating: 1, count: 100_000)) }
        expectReadOnly { _ = try reader.delete("a") }
        expectReadOnly { _ = try reader.incr("n") }
        expectReadOnly { _ = try reader.touch("a", ttl: nil) }
        expectReadOnly { _ = try reader.pull(prefix: "q") }
        expectReadOnly { _ = try reader.push(bytes("x"), prefix: "q") }
        expectReadOnly { _ = try reader.clear() }
        expectReadOnly { try reader.transact { } }
        expectReadOnly { try reader.updateSetting("cull_limit", .int(3)) }
        #expect(listing(dir) == before)

        // Writers' changes show, compaction included.
        #expect(try writer.delete("a"))
        try writer.set("c", text: "gamma")
        #expect(try reader.get("a") == nil)
        #expect(try reader.get("c")?.text == "gamma")
        try writer.compact()
        try writer.set("d", text: "delta")
        #expect(try reader.get("d")?.text == "delta")
        #expect(try reader.get("c")?.text == "gamma")
        try reader.close()
        #expect(throws: DiskCacheError.self) { try reader.get("c") }
    }

    @Test func nothingToOpenIsAnErrorAndCreatesNothing() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        #expect(throws: DiskCacheError.self) { try DiskCache(directory: dir, readOnly: true) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        #expect(throws: DiskCacheError.self) { try DiskCache(directory: dir + "/missing", readOnly: true) }
        #expect(!FileManager.default.fileExists(atPath: dir + "/missing"))
    }

    @Test func settingsMustMatchTheStoredOnes() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        _ = try DiskCache(directory: dir, settings: ["cull_limit": .int(4)])
        _ = try DiskCache(directory: dir, settings: ["cull_limit": .int(4)], readOnly: true)
        do {
            _ = try DiskCache(directory: dir, settings: ["cull_limit": .int(5)], readOnly: true)
            Issue.record("a different setting was accepted")
        } catch let e as DiskCacheError {
            #expect(e.code == .readOnly)
        }
    }

    @Test func networkMode() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let writer = try DiskCache(directory: dir, network: true)
        try writer.set("a", text: "alpha")
        let before = listing(dir)
        let reader = try DiskCache(directory: dir, network: true, readOnly: true)
        #expect(try reader.get("a")?.text == "alpha")
        expectReadOnly { try reader.set("b", text: "beta") }
        try writer.set("b", text: "beta")
        usleep(10_000)
        #expect(try reader.get("b")?.text == "beta")
        try reader.close()
        let after = listing(dir)
        // The writer's batch is the only news.
        #expect(Set(after.keys).subtracting(before.keys).allSatisfy { $0.hasPrefix("b-") })
    }
}
