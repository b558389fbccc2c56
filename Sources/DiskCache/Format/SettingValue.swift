/// A persisted setting's value. Settings are records in the log, so every process sees the
/// same ones; unknown names are kept as given (python-diskcache persists any keyword).
public enum SettingValue: Equatable, Sendable, CustomStringConvertible {
    /// An integer (also booleans: 0 or 1).
    case int(Int64)
    /// A floating-point number.
    case float(Double)
    /// Text (eviction policy, durability).
    case text(String)

    /// The value as text (`1073741824`, `least-recently-used`).
    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .float(let v): return String(v)
        case .text(let v): return v
        }
    }

    var intValue: Int64? {
        switch self {
        case .int(let v): return v
        case .float(let v):
            if let exact = exactInt64(v) { return exact }
            if v.isNaN { return nil }
            // Beyond Int64 (1e300, infinity) saturates: python-diskcache compares with the float.
            if v >= 0x1p63 { return .max }
            if v < -0x1p63 { return .min }
            return Int64(v)
        case .text: return nil
        }
    }

    var doubleValue: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .float(let v): return v
        case .text: return nil
        }
    }

    var textValue: String? {
        if case .text(let v) = self { return v }
        return nil
    }

    func encoded() -> (kind: ItemKind, bytes: [UInt8]) {
        switch self {
        case .int(let v): return (.int, withUnsafeBytes(of: v.littleEndian) { Array($0) })
        case .float(let v): return (.float, withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) })
        case .text(let v): return (.text, Array(v.utf8))
        }
    }

    init?(kind: UInt8, bytes: UnsafeRawBufferPointer) {
        switch ItemKind(rawValue: kind) {
        case .int where bytes.count == 8: self = .int(Int64(littleEndian: bytes.loadUnaligned(as: Int64.self)))
        case .float where bytes.count == 8: self = .float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))))
        case .text: self = .text(String(decoding: bytes, as: UTF8.self))
        default: return nil
        }
    }
}
