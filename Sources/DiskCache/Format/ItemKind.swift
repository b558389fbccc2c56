/// How a key (or tag, or value) was given by the caller. The Python layer maps its types here:
/// int (fits in 64 bits), float, str, bytes, and anything pickled.
public enum ItemKind: UInt8, Sendable {
    /// A 64-bit signed integer: 8 little-endian bytes.
    case int = 1
    /// A `Double`: its 8 little-endian bit-pattern bytes.
    case float = 2
    /// UTF-8 text.
    case text = 3
    /// Raw bytes.
    case blob = 4
    /// A Python pickle (written by `diskcache_swift` for other Python values).
    case pickle = 5
}

/// `d` as an Int64 when it is an integer that Int64 holds exactly.
@inline(__always)
func exactInt64(_ d: Double) -> Int64? {
    guard d.isFinite, d == d.rounded(.towardZero), d >= -9.223372036854775808e18, d < 9.223372036854775808e18 else { return nil }
    return Int64(d)
}
