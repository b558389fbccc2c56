import Foundation
import Testing
@testable import DiskCache

/// Random operation sequences against the engine and a plain dictionary model, compared after
/// every step; a second cache object on the same directory must agree too (it learns
/// everything by tailing the log), and so must a reopened one at the end.
@Suite struct ModelTests {
    struct Model {
        var items: [StoredKey: (value: [UInt8], expire: Double?)] = [:]
        var order: [StoredKey] = []
    }

    struct Rng: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test(arguments: [1, 2, 3, 4])
    func randomOperationsMatchModel(seed: UInt64) throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let c = try DiskCache(directory: dir, cullLimit: 0, minFileSize: 500)
        let reader = try DiskCache(directory: dir)
        var rng = Rng(state: seed)
        var model = Model()
        let keys: [StoredKey] = (0..<40).map { i in
            switch i % 4 {
            case 0: return .int(Int64(i))
            case 1: return .text("k\(i)")
            case 2: return .blob([UInt8(i), 0])
            default: return .float(Double(i) + 0.5)
            }
        }
        for step in 0..<3000 {
            let key = keys[Int(rng.next() % UInt64(keys.count))]
            let value = (0..<Int(rng.next() % 1200)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            switch rng.next() % 10 {
            case 0, 1, 2:
                try c.set(key, bytes: value)
                if model.items[key] == nil { model.order.append(key) }
                model.items[key] = (value, nil)
            case 3:
                let added = try c.add(key, bytes: value)
                #expect(added == (model.items[key] == nil), "step \(step)")
                if added { model.items[key] = (value, nil); model.order.append(key) }
            case 4:
                let deleted = try c.delete(key)
                #expect(deleted == (model.items[key] != nil), "step \(step)")
                model.items[key] = nil
                model.order.removeAll { $0 == key }
            case 5:
                let popped = try c.pop(key)
                #expect(popped?.value == model.items[key]?.value, "step \(step)")
                model.items[key] = nil
                model.order.removeAll { $0 == key }
            case 6:
                if rng.next() % 4 == 0 {
                    struct Abort: Error {}
                    _ = try? c.transact {
                        try c.set(key, bytes: value)
                        try c.delete(keys[0])
                        throw Abort()
                    }
                } else {
                    try c.transact {
                        try c.set(key, bytes: value)
                        _ = try c.delete(keys[0])
                    }
                    if model.items[key] == nil { model.order.append(key) }
                    model.items[key] = (value, nil)
                    model.items[keys[0]] = nil
                    model.order.removeAll { $0 == keys[0] }
                }
            case 7:
                if rng.next() % 50 == 0 { try c.compact() }
            default:
                #expect(try c.get(key)?.value == model.items[key]?.value, "step \(step)")
            }
            if step % 97 == 0 {
                #expect(try reader.get(key)?.value == model.items[key]?.value, "reader, step \(step)")
                #expect(try reader.count() == model.items.count)
                #expect(try c.keys() == model.order, "order, step \(step)")
            }
        }
        let reopened = try DiskCache(directory: dir)
        #expect(try reopened.count() == model.items.count)
        for (k, v) in model.items { #expect(try reopened.get(k)?.value == v.value) }
        #expect(try reopened.keys() == model.order)
        let findings = try reopened.check()
        #expect(findings.isEmpty, "\(findings)")
    }
}
