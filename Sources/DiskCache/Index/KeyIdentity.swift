/// How a key (or tag, or value) was given by the caller. The Python layer maps its types here:
/// int (fits in 64 bits), float, str, bytes, and anything pickled.
public enum ItemKind: UInt8, Sendable {
    case int = 1
    case float = 2
    case text = 3
    case blob = 4
    case pickle = 5
}

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
    public var kind: ItemKind
    public var bytes: UnsafeRawBufferPointer

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

/// `d` as an Int64 when it is an integer that Int64 holds exactly.
@inline(__always)
func exactInt64(_ d: Double) -> Int64? {
    guard d.isFinite, d == d.rounded(.towardZero), d >= -9.223372036854775808e18, d < 9.223372036854775808e18 else { return nil }
    return Int64(d)
}

/// A stable 64-bit hash (the same in every process and on every platform, unlike `Hasher`).
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
