import DiskCache
import DiskCacheKit
import Foundation
import NIOConcurrencyHelpers
import Vapor

/// A Vapor `Cache` kept in a `DiskCache` directory: it survives restarts and is shared by
/// every process (and, on a network filesystem, every host) that opens the same directory.
///
/// Values are encoded by the cache's `coder` (JSON unless the `AsyncDiskCache` was opened with
/// another), as `AsyncDiskCache.set` stores them: a value set here reads back with
/// `AsyncDiskCache.get(_:as:)` under the same key, and the other way round. Keys are the
/// strings given, unprefixed. Calls never block the event loop: each one runs as an
/// `AsyncDiskCache` operation, which waits for locks and disk off the event loop.
///
///     app.caches.use(.disk(path: "/var/cache/myapp"))
///
///     app.get("report") { req async throws -> Report in
///         if let cached = try await req.cache.get("report", as: Report.self) { return cached }
///         let report = try await makeReport()
///         try await req.cache.set("report", to: report, expiresIn: .minutes(5))
///         return report
///     }
public struct DiskCacheVaporCache: Vapor.Cache, Sendable {
    /// Where the values go, or why the cache could not be opened.
    let storage: Result<AsyncDiskCache, any Error>
    /// The event loop the returned futures complete on.
    public let eventLoop: any EventLoop

    /// A cache over `cache` whose futures complete on `eventLoop`.
    public init(_ cache: AsyncDiskCache, on eventLoop: any EventLoop) {
        self.storage = .success(cache)
        self.eventLoop = eventLoop
    }

    init(storage: Result<AsyncDiskCache, any Error>, on eventLoop: any EventLoop) {
        self.storage = storage
        self.eventLoop = eventLoop
    }

    /// The value under `key` decoded as `T`, or nil if there is none or it expired.
    ///
    /// The future fails with the coder's error (`DecodingError` for JSON) if the stored bytes
    /// do not decode as `T`.
    public func get<T: Decodable>(_ key: String, as type: T.Type) -> EventLoopFuture<T?> {
        let storage = self.storage
        return eventLoop.makeFutureWithTask { () async throws -> (any CacheCoder, [UInt8]?) in
            let cache = try storage.get()
            return (cache.coder, try await cache.bytes(CacheKey(key)))
        }.flatMapThrowing { coder, bytes -> T? in
            // Decoded here, on the event loop: `T` need not be Sendable (Vapor's protocol does
            // not ask for it; Swift 6.3 warns that `T.Type` is captured, which is harmless here).
            guard let bytes else { return nil }
            return try bytes.withUnsafeBytes { try coder.decode(T.self, from: $0) }
        }
    }

    /// Stores `value` under `key` without expiry; nil removes the key.
    public func set<T: Encodable>(_ key: String, to value: T?) -> EventLoopFuture<Void> {
        set(key, to: value, expiresIn: nil)
    }

    /// Stores `value` under `key`, expiring after `expirationTime` (nil: never); nil removes
    /// the key.
    ///
    /// The value is encoded before anything is stored: a value that fails to encode fails the
    /// future and leaves the key as it was.
    public func set<T: Encodable>(_ key: String, to value: T?, expiresIn expirationTime: CacheExpirationTime?) -> EventLoopFuture<Void> {
        let storage = self.storage
        guard let value else {
            return eventLoop.makeFutureWithTask {
                _ = try await storage.get().remove(CacheKey(key))
            }
        }
        let cache: AsyncDiskCache
        let data: Data
        do {
            cache = try storage.get()
            data = try cache.coder.encode(value)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        // Stored as `AsyncDiskCache.set` stores it (the coder's kind), from the encoded bytes:
        // `T` need not be Sendable.
        let kind = cache.coder.kind
        let expires = expirationTime.map { ExpiryTime.after(.seconds($0.seconds)) }
        return eventLoop.makeFutureWithTask {
            try await cache.perform { engine in
                try CacheKey(key).withRef { k in
                    try data.withUnsafeBytes { try engine.set(k, kind: kind, value: $0, expireTime: expires?.secondsSince1970) }
                }
            }
        }
    }

    /// The same cache, completing its futures on the request's event loop.
    public func `for`(_ request: Request) -> DiskCacheVaporCache {
        DiskCacheVaporCache(storage: storage, on: request.eventLoop)
    }
}

extension Application.Caches {
    /// The disk cache configured with `use(.disk(path:))` or `use(.disk(_:))`.
    ///
    /// Fails every operation with the opening error if the directory could not be opened.
    public var disk: DiskCacheVaporCache {
        guard let storage = application.storage[DiskStorageKey.self] else {
            fatalError("No disk cache configured. Configure with app.caches.use(.disk(path:))")
        }
        return DiskCacheVaporCache(storage: storage, on: application.eventLoopGroup.next())
    }
}

extension Application.Caches.Provider {
    /// A `DiskCache` in the directory at `path` (created if needed), opened once for the
    /// application.
    ///
    /// If the directory cannot be opened, the error (which names the path) is logged and every
    /// cache operation fails with it.
    public static func disk(path: String) -> Self {
        .init { app in
            let storage = Result { try AsyncDiskCache(directory: path) }
            if case .failure(let error) = storage {
                app.logger.report(error: error)
            }
            app.storage[DiskStorageKey.self] = storage
            app.caches.use { $0.caches.disk }
        }
    }

    /// An already open `AsyncDiskCache` (for settings such as a size limit or an eviction
    /// policy, chosen when it was opened).
    public static func disk(_ cache: AsyncDiskCache) -> Self {
        .init { app in
            app.storage[DiskStorageKey.self] = .success(cache)
            app.caches.use { $0.caches.disk }
        }
    }
}

private struct DiskStorageKey: StorageKey {
    typealias Value = Result<AsyncDiskCache, any Error>
}
