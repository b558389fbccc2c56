/// The equality class of a key: python-diskcache compares keys with SQLite, where 1 == 1.0,
/// 'a' != b'a' and a pickled key never equals a raw one. A float that is an exact 64-bit
/// integer therefore shares the integer class, and its canonical bytes are the integer's.
enum IdentityClass: UInt8 {
    case integer = 0x10
    case real = 0x11
    case text = 0x20
    case blob = 0x30
    case pickle = 0x31
}

/// A borrowed key (or tag): its kind as given and its bytes (int: Int64 LE, float: Double LE,
/// text: UTF-8, blob and pickle: as is).
public struct KeyRef {
    /// How `bytes` are to be read.
    public var kind: ItemKind
    /// The key's encoded bytes, valid as long as the buffer they borrow from.
    public var bytes: UnsafeRawBufferPointer

    /// A key over borrowed bytes. `CacheKey.withRef` makes one:
    ///
    ///     try CacheKey("k").withRef { key in try cache.contains(key) }
    public init(kind: ItemKind, bytes: UnsafeRawBufferPointer) {
        self.kind = kind
        self.bytes = bytes
    }

    /// The integer value of an int key, or of a float key that is an exact 64-bit integer.
    var integerValue: Int64? {
        switch kind {
        case .int:
            return bytes.count == 8 ? Int64(littleEndian: bytes.loadUnaligned(as: Int64.self)) : nil
        case .float:
            guard bytes.count == 8 else { return nil }
            let d = Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self)))
            return exactInt64(d)
        default:
            return nil
        }
    }

    /// Calls `body` with the identity class and canonical bytes.
    @inline(__always)
    func withIdentity<R>(_ body: (IdentityClass, UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch kind {
        case .int:
            return try body(.integer, bytes)
        case .float:
            if var i = integerValue {
                return try withUnsafeBytes(of: &i) { try body(.integer, UnsafeRawBufferPointer($0)) }
            }
            return try body(.real, bytes)
        case .text: return try body(.text, bytes)
        case .blob: return try body(.blob, bytes)
        case .pickle: return try body(.pickle, bytes)
        }
    }
}

/// The secret key of an index's hash table. Random for each index built from the log, kept
/// in the snapshot of that index: keys cannot be crafted to collide without knowing it.
struct HashKey: Equatable {
    var k0: UInt64
    var k1: UInt64

    static func random() -> HashKey {
        var g = SystemRandomNumberGenerator()
        return HashKey(k0: g.next(), k1: g.next())
    }
}

/// SipHash-1-3 (Aumasson and Bernstein's keyed hash, with one compression and three
/// finalisation rounds) of an identity: `cls` selects a key per class, so equal bytes of
/// different classes hash apart. Cheap for short keys, and without the key an attacker
/// cannot make keys collide (an unkeyed multiply-xor hash let 60k crafted integer keys share
/// one probe chain).
@inline(__always)
func keyedHash(_ cls: IdentityClass, _ bytes: UnsafeRawBufferPointer, key: HashKey) -> UInt64 {
    let k0 = key.k0
    let k1 = key.k1 ^ UInt64(cls.rawValue)
    var v0: UInt64 = k0 ^ 0x736F_6D65_7073_6575
    var v1: UInt64 = k1 ^ 0x646F_7261_6E64_6F6D
    var v2: UInt64 = k0 ^ 0x6C79_6765_6E65_7261
    var v3: UInt64 = k1 ^ 0x7465_6462_7974_6573
    @inline(__always) func round() {
        v0 = v0 &+ v1; v1 = (v1 << 13) | (v1 >> 51); v1 ^= v0; v0 = (v0 << 32) | (v0 >> 32)
        v2 = v2 &+ v3; v3 = (v3 << 16) | (v3 >> 48); v3 ^= v2
        v0 = v0 &+ v3; v3 = (v3 << 21) | (v3 >> 43); v3 ^= v0
        v2 = v2 &+ v1; v1 = (v1 << 17) | (v1 >> 47); v1 ^= v2; v2 = (v2 << 32) | (v2 >> 32)
    }
    let n = bytes.count
    var i = 0
    if n > 0 {
        let base = bytes.baseAddress!
        while i + 8 <= n {
            let m = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            v3 ^= m
            round()
            v0 ^= m
            i += 8
        }
    }
    var last = UInt64(truncatingIfNeeded: n) << 56
    var shift: UInt64 = 0
    while i < n {
        last |= UInt64(bytes[i]) << shift
        shift += 8
        i += 1
    }
    v3 ^= last
    round()
    v0 ^= last
    v2 ^= 0xFF
    round()
    round()
    round()
    return v0 ^ v1 ^ v2 ^ v3
}

/// A stable 64-bit hash (the same in every process and on every platform, unlike `Hasher`):
/// tags' filter hashes, which are compared, never used to place anything.
@inline(__always)
func stableHash(_ cls: IdentityClass, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ (UInt64(cls.rawValue) &* 0xFF51_AFD7_ED55_8CCD) ^ UInt64(bytes.count)
    var i = 0
    let n = bytes.count
    if n > 0 {
        let base = bytes.baseAddress!
        while i + 8 <= n {
            let w = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = (h ^ w) &* 0x0000_0100_0000_01B3 &+ 0x9E37_79B9
            h = (h << 31) | (h >> 33)
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < n {
            tail |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0x0000_0100_0000_01B3
    }
    h ^= h >> 33
    h = h &* 0xFF51_AFD7_ED55_8CCD
    h ^= h >> 33
    h = h &* 0xC4CE_B9FE_1A85_EC53
    h ^= h >> 33
    return h
}

extension RecordView {
    /// The key with its kind.
    var keyRef: KeyRef { KeyRef(kind: ItemKind(rawValue: header.keyKind) ?? .blob, bytes: key) }
    /// The tag with its kind, if there is one.
    var tagRef: KeyRef? { header.tagKind == 0 ? nil : KeyRef(kind: ItemKind(rawValue: header.tagKind) ?? .blob, bytes: tag) }
}
