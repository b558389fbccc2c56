import DiskCache
import Foundation

/// How `AsyncDiskCache` turns `Codable` values into stored bytes and back. Plug in your own
/// (property lists, a binary format) with `AsyncDiskCache(_:coder:)`; `JSONCacheCoder` is the
/// default.
public protocol CacheCoder: Sendable {
    /// The kind values are stored with (`.text` lets other languages' readers, such as
    /// `diskcache_swift` in Python, see JSON as a string; `.blob` for binary formats).
    var kind: ItemKind { get }
    /// Encodes a value.
    func encode<T: Encodable>(_ value: T) throws -> Data
    /// Decodes a value from bytes that are valid only for the call (do not keep them).
    func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> T
}

/// JSON through Foundation's `JSONEncoder` and `JSONDecoder`, stored as text.
public struct JSONCacheCoder: CacheCoder {
    /// Configures each encoder (date and key strategies ...); nil: the defaults.
    public var configureEncoder: (@Sendable (JSONEncoder) -> Void)?
    /// Configures each decoder; nil: the defaults.
    public var configureDecoder: (@Sendable (JSONDecoder) -> Void)?

    /// A coder with Foundation's default JSON settings, or the ones the closures set.
    public init(configureEncoder: (@Sendable (JSONEncoder) -> Void)? = nil, configureDecoder: (@Sendable (JSONDecoder) -> Void)? = nil) {
        self.configureEncoder = configureEncoder
        self.configureDecoder = configureDecoder
    }

    /// `.text`: JSON is UTF-8 text.
    public var kind: ItemKind { .text }

    /// Encodes `value` as JSON.
    public func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        configureEncoder?(encoder)
        return try encoder.encode(value)
    }

    /// Decodes JSON read from `bytes` in place.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> T {
        let decoder = JSONDecoder()
        configureDecoder?(decoder)
        guard let base = bytes.baseAddress, bytes.count > 0 else { return try decoder.decode(type, from: Data()) }
        // The cache's bytes as they are: no copy.
        return try decoder.decode(type, from: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: bytes.count, deallocator: .none))
    }
}
