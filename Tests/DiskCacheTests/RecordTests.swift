import CDiskCacheSupport
import Testing
@testable import DiskCache

@Suite struct RecordTests {
    static let salt: UInt64 = 0x1234_5678_9ABC_DEF1
    static let offset: Int64 = 4096
    static let place = RecordPlace(salt: salt, offset: offset)
    func encode(_ key: String, _ value: String, tag: String = "") -> [UInt8] {
        var h = RecordHeader(kind: .put)
        h.keyKind = ItemKind.text.rawValue
        h.valueKind = ItemKind.blob.rawValue
        h.tagKind = tag.isEmpty ? 0 : ItemKind.text.rawValue
        h.rowid = 7
        h.storeTime = 1234.5
        h.expireTime = 99.25
        var out: [UInt8] = []
        Array(key.utf8).withUnsafeBytes { k in
            Array(tag.utf8).withUnsafeBytes { t in
                Array(value.utf8).withUnsafeBytes { v in
                    RecordHeader.append(h, key: k, tag: t, value: v, to: &out, salt: RecordTests.salt, base: RecordTests.offset)
                }
            }
        }
        return out
    }

    @Test func roundTrip() throws {
        let rec = encode("key", "value", tag: "t")
        let h = try #require(rec.withUnsafeBytes { RecordHeader.decode($0, at: Self.place) })
        #expect(h.kind == .put)
        #expect(h.rowid == 7)
        #expect(h.storeTime == 1234.5)
        #expect(h.expireTime == 99.25)
        #expect(h.totalLength == rec.count)
        #expect(Array(rec[h.keyOffset..<(h.keyOffset + h.keyLength)]) == Array("key".utf8))
        #expect(Array(rec[h.tagOffset..<(h.tagOffset + h.tagLength)]) == Array("t".utf8))
        #expect(Array(rec[h.valueOffset..<(h.valueOffset + h.valueLength)]) == Array("value".utf8))
    }

    @Test func everyFlippedByteIsDetected() {
        let rec = encode("key", "some value bytes")
        for i in 0..<rec.count {
            var damaged = rec
            damaged[i] ^= 0x20
            #expect(damaged.withUnsafeBytes { RecordHeader.decode($0, at: Self.place) } == nil, "flip at \(i) not detected")
        }
    }

    @Test func tornRecordIsRejected() {
        let rec = encode("key", "value")
        for cut in [0, 1, 11, 12, 63, 64, rec.count - 1] {
            #expect(Array(rec[0..<cut]).withUnsafeBytes { RecordHeader.decode($0, at: Self.place) } == nil)
        }
    }

    @Test func externalValueRoundTrip() throws {
        let ext = ExternalValue(size: 12345, crc: 0xDEADBEEF, name: "ab/cd/0123456789abcdef0123456789ab.val")
        let back = try #require(ext.encoded().withUnsafeBytes { ExternalValue($0) })
        #expect(back.size == 12345 && back.crc == 0xDEADBEEF && back.name == ext.name)
        let evil = ExternalValue(size: 1, crc: 0, name: "../../etc/passwd")
        #expect(evil.encoded().withUnsafeBytes { ExternalValue($0) } == nil)
    }

    @Test func keyIdentityFollowsSQLiteEquality() {
        // 1 == 1.0, but 'a' != b'a'.
        let one = StoredKey.int(1), oneFloat = StoredKey.float(1.0), half = StoredKey.float(1.5)
        let h1 = one.withRef { $0.withIdentity { stableHash($0, $1) } }
        let h2 = oneFloat.withRef { $0.withIdentity { stableHash($0, $1) } }
        let h3 = half.withRef { $0.withIdentity { stableHash($0, $1) } }
        #expect(h1 == h2)
        #expect(h1 != h3)
        let ta = StoredKey.text("a").withRef { $0.withIdentity { stableHash($0, $1) } }
        let ba = StoredKey.blob(Array("a".utf8)).withRef { $0.withIdentity { stableHash($0, $1) } }
        #expect(ta != ba)
    }

    @Test func keyTableInsertFindRemove() {
        var t = KeyTable()
        var indices: [Int] = []
        for i in 0..<5000 {
            let k = Array("key\(i)".utf8)
            indices.append(k.withUnsafeBytes { t.insert(.text, $0, hash: t.hash(.text, $0), entry: Entry()) })
        }
        t._checkInvariants()
        for i in stride(from: 0, to: 5000, by: 2) { t.remove(indices[i]) }
        t._checkInvariants()
        #expect(t.count == 2500)
        for i in 0..<5000 {
            let k = Array("key\(i)".utf8)
            let found = k.withUnsafeBytes { t.find(.text, $0, hash: t.hash(.text, $0)) }
            #expect((found != nil) == (i % 2 == 1))
        }
    }

    @Test func crc32cUsesTheHardwareWhereThereIsOne() {
        #if arch(x86_64)
        // Every x86_64 machine this project runs on has SSE4.2; the software fallback is
        // five times slower and once went unnoticed.
        #expect(dcs_crc32c_is_hardware() == 1)
        #endif
    }

    @Test func crc32cKnownValueAndLargeBuffersAgreeWithSmallSteps() {
        let check = Array("123456789".utf8)
        #expect(check.withUnsafeBytes { dcs_crc32c(0, $0.baseAddress, $0.count) } == 0xE306_9283)
        // Large buffers take the three-lane path; 1000-byte steps take the single lane.
        var rng = SystemRandomNumberGenerator()
        let data = (0..<300_001).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let whole = data.withUnsafeBytes { dcs_crc32c(0, $0.baseAddress, $0.count) }
        var stepped: UInt32 = 0
        data.withUnsafeBytes { raw in
            var i = 0
            while i < raw.count {
                let n = min(1000, raw.count - i)
                stepped = dcs_crc32c(stepped, raw.baseAddress! + i, n)
                i += n
            }
        }
        #expect(whole == stepped)
    }
}
