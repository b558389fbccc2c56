/// A key: text, bytes, an integer or a float, stored with its kind (`"1"`, `[0x31]` and `1`
/// are three different keys).
///
/// String literals, interpolated strings and integer literals are keys as they stand:
///
///     try cache.set("user:\(id)", text: name)
///     try cache.set(42, int: 1)
///     let key = CacheKey([0xde, 0xad])        // bytes
///     print(key)                              // bytes(de ad)
public struct CacheKey: Hashable, Sendable, ExpressibleByStringInterpolation, ExpressibleByIntegerLiteral,
    CustomStringConvertible, CustomDebugStringConvertible {
    /// How the key's bytes are to be read.
    public var kind: ItemKind
    /// The key's encoded bytes: UTF-8 text, raw bytes, or 8 little-endian bytes for `.int`
    /// and `.float` (python-diskcache's pickled keys: `.pickle`).
    public var bytes: [UInt8]

    /// A key from its kind and encoded bytes (as `kind` and `bytes` return them).
    public init(kind: ItemKind, bytes: [UInt8]) {
        self.kind = kind
        self.bytes = bytes
    }

    /// A text key.
    public init(_ text: String) { self.init(kind: .text, bytes: Array(text.utf8)) }
    /// A key of raw bytes (distinct from the text with the same UTF-8).
    public init(_ bytes: [UInt8]) { self.init(kind: .blob, bytes: bytes) }
    /// An integer key. Any signed integer type fits.
    public init<I: FixedWidthInteger & SignedInteger>(_ value: I) {
        self.init(kind: .int, bytes: withUnsafeBytes(of: Int64(value).littleEndian) { Array($0) })
    }
    /// An integer key from any integer type; nil if the value does not fit in an `Int64`.
    public init?<I: BinaryInteger>(exactly value: I) {
        guard let v = Int64(exactly: value) else { return nil }
        self.init(v)
    }

    /// A text key from a string literal (or an interpolated string: `"user:\(id)"`).
    public init(stringLiteral value: String) { self.init(value) }
    /// An integer key from an integer literal.
    public init(integerLiteral value: Int64) { self.init(value) }

    /// A text key.
    public static func text(_ s: String) -> CacheKey { CacheKey(s) }
    /// An integer key.
    public static func int(_ v: Int64) -> CacheKey { CacheKey(v) }
    /// A float key. The cache finds an integral float and the equal integer as one key, as
    /// python-diskcache does; `==` on `CacheKey` compares kind and bytes.
    public static func float(_ v: Double) -> CacheKey { CacheKey(kind: .float, bytes: withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) }) }
    /// A key of raw bytes.
    public static func blob(_ b: [UInt8]) -> CacheKey { CacheKey(b) }

    /// The text of a text key.
    public var text: String? { kind == .text ? String(decoding: bytes, as: UTF8.self) : nil }
    /// The integer of an int key.
    public var int: Int64? { kind == .int && bytes.count == 8 ? Int64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }) : nil }
    /// The number of a float key.
    public var float: Double? { kind == .float && bytes.count == 8 ? Double(bitPattern: UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })) : nil }

    /// The key as a person reads it: the text itself, the number, `bytes(de ad)`, or
    /// `pickle(12 bytes)`.
    public var description: String {
        if let text { return text }
        if let int { return String(int) }
        if let float { return String(float) }
        if kind == .pickle { return "pickle(\(bytes.count) bytes)" }
        return "bytes(" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ") + ")"
    }

    /// Like `description`, with text quoted so that `"1"` and `1` differ.
    public var debugDescription: String {
        guard let text else { return description }
        return "\"" + text.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\""
    }

    /// Calls `body` with the key as the engine's operations take it (no copy).
    public func withRef<R>(_ body: (KeyRef) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { try body(KeyRef(kind: kind, bytes: $0)) }
    }
}

/// The name the engine used for `CacheKey` before it had literals and descriptions.
public typealias StoredKey = CacheKey

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
