import DiskCache
import DiskCacheKit
import Foundation
import Hummingbird

/// A Hummingbird `PersistDriver` kept in a `DiskCache` directory: values survive restarts and
/// are shared by every process (and, on a network filesystem, every host) that opens the same
/// directory. Use it for cached responses or as session storage:
///
///     let persist = try DiskPersistDriver(directory: "/var/cache/myapp")
///     router.addMiddleware { SessionMiddleware(storage: persist) }   // HummingbirdAuth
///     let app = Application(router: router, services: [persist])
///
/// Values are encoded by the cache's `coder` (JSON unless the `AsyncDiskCache` was opened with
/// another), as `AsyncDiskCache.set` stores them, under the keys given (unprefixed). Every call
/// goes through `AsyncDiskCache`, so none blocks a thread of the cooperative pool. Expiry is an
/// absolute wall-clock time (`ExpiryTime`), the same instant for every process and host.
public struct DiskPersistDriver: PersistDriver {
    /// The cache the values are kept in.
    public let cache: AsyncDiskCache

    /// Opens (creating if needed) the cache in `directory`.
    ///
    /// - Throws: `DiskCacheError` naming the path if the directory cannot be opened.
    public init(directory: String) throws {
        self.cache = try AsyncDiskCache(directory: directory)
    }

    /// A driver over an open cache (for settings such as a size limit, or another coder).
    public init(_ cache: AsyncDiskCache) {
        self.cache = cache
    }

    /// Stores `value` under `key`, expiring after `expires` (nil: never).
    ///
    /// - Throws: `PersistError.duplicate` if a live value is stored under `key` (it is left as
    ///   it was).
    public func create<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        guard try await cache.add(value, forKey: CacheKey(key), ttl: expires) else {
            throw PersistError.duplicate
        }
    }

    /// Stores `value` under `key`, replacing what was there. With `expires` nil, a value that
    /// replaces one with an expiry keeps that expiry (read and written in one transaction).
    public func set<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        if let expires {
            try await cache.set(value, forKey: CacheKey(key), ttl: expires)
            return
        }
        let data = try cache.coder.encode(value)
        let kind = cache.coder.kind
        try await cache.perform { engine in
            try CacheKey(key).withRef { k in
                try engine.transact {
                    // Only the expiry is wanted: a value in a file of its own is not read.
                    let kept = try engine.withItem(k, readFile: { _ in false }) { $0.expireTime } ?? nil
                    try data.withUnsafeBytes { try engine.set(k, kind: kind, value: $0, expireTime: kept) }
                }
            }
        }
    }

    /// The value under `key` decoded as `Object`, or nil if there is none or it expired.
    ///
    /// - Throws: `PersistError.invalidConversion` if the stored value does not decode as
    ///   `Object`.
    public func get<Object: Codable & Sendable>(key: String, as type: Object.Type) async throws -> Object? {
        do {
            return try await cache.get(CacheKey(key), as: type)
        } catch let error as DiskCacheError {
            throw error
        } catch {
            throw PersistError.invalidConversion
        }
    }

    /// The value under `key` and the time it has left (nil: it never expires), or nil if there
    /// is none or it expired.
    ///
    /// - Throws: `PersistError.invalidConversion` if the stored value does not decode as
    ///   `Object`.
    public func getWithTTL<Object: Codable & Sendable>(key: String, as type: Object.Type) async throws -> (object: Object, ttl: Duration?)? {
        guard let item = try await cache.perform({ try $0.get(CacheKey(key)) }) else { return nil }
        let object: Object
        do {
            object = try item.value.withUnsafeBytes { try cache.coder.decode(type, from: $0) }
        } catch {
            throw PersistError.invalidConversion
        }
        let ttl = item.expireTime.map { max(ExpiryTime(secondsSince1970: $0).remaining, .zero) }
        return (object, ttl)
    }

    /// Removes the value under `key`, if any.
    public func remove(key: String) async throws {
        _ = try await cache.remove(CacheKey(key))
    }
}
