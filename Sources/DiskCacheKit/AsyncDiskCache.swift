import DiskCache
import Foundation
import Synchronization

/// A `DiskCache` for Swift concurrency: every operation is `async throws`, and none of them
/// blocks a thread of the cooperative pool.
///
/// Each call is first tried on the caller's thread without waiting
/// (`DiskCache.withoutWaiting`): an uncontended read or small write of a local cache completes
/// there, without a thread hop. If it would wait — for another thread's or process's write
/// lock, for `fsync`, a value file, or network-mode I/O — it runs on a thread of
/// DiskCacheKit's own blocking pool instead, and the task is suspended meanwhile. Caches in
/// network mode always go to the pool.
///
/// Values are `Codable`, encoded by the cache's `coder` (JSON unless you plug in another), or
/// raw bytes.
///
/// For example:
///
///     struct User: Codable, Sendable { var name: String }
///     let cache = try AsyncDiskCache(directory: "/var/cache/app")
///     try await cache.set(User(name: "Ada"), forKey: "user:\(id)", ttl: .seconds(300))
///     let user = try await cache.get("user:\(id)", as: User.self)
///     let page = try await cache.value(forKey: "page:/") { try await render() }  // once per key
///
/// Cancelling a task does not interrupt a call it has started: cache operations are short, or
/// bounded by the cache's `lockTimeout`.
public final class AsyncDiskCache: Sendable {
    /// The synchronous cache underneath (safe to use from any thread, but its calls block).
    public let cache: DiskCache
    /// Encodes and decodes the `Codable` values.
    public let coder: any CacheCoder
    private let network: Bool
    private let flights = Mutex<[CacheKey: Flight]>([:])
    private let cleanupScheduled = Atomic<Bool>(false)

    /// Opens (creating if needed) the cache in `directory` with its persisted settings, and
    /// JSON for `Codable` values. Opening reads the directory: do it once, at startup.
    public convenience init(directory: String) throws {
        try self.init(DiskCache(directory: directory))
    }

    /// Wraps an open cache; `coder` encodes `Codable` values (JSON by default).
    public init(_ cache: DiskCache, coder: any CacheCoder = JSONCacheCoder()) {
        self.cache = cache
        self.coder = coder
        network = cache.isNetworkMode
    }

    // MARK: Running

    /// Runs `body` with the cache: on the calling thread if it completes without waiting,
    /// else on a blocking-pool thread. `body` may run twice: once refused (having done
    /// nothing), then for real; it must do nothing but call the cache.
    public func perform<R: Sendable>(_ body: @escaping @Sendable (DiskCache) throws -> R) async throws -> R {
        let cache = self.cache
        if !network {
            do {
                let r = try DiskCache.withoutWaiting { try body(cache) }
                if cache.hasDeferredWork { scheduleDeferredWork() }
                return r
            } catch let e as DiskCacheError where e.code == .wouldBlock {}
        }
        return try await BlockingPool.shared.run { try body(cache) }
    }

    /// Compaction and file removals that writes made without waiting left behind run on the
    /// pool, one batch at a time.
    private func scheduleDeferredWork() {
        guard !cleanupScheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let cache = self.cache
        BlockingPool.shared.submit { [self] in
            try? cache.performDeferredWork()
            cleanupScheduled.store(false, ordering: .releasing)
        }
    }

    // MARK: Codable values

    /// The value stored under `key` decoded as `T`, or nil if there is none (absent or
    /// expired).
    ///
    /// - Throws: the coder's error if the stored bytes do not decode as `T`; `DiskCacheError`.
    public func get<T: Decodable>(_ key: CacheKey, as type: T.Type = T.self) async throws -> T? {
        let coder = self.coder, cache = self.cache
        if !network {
            do {
                // Decoded straight from the cache's bytes.
                let value = try DiskCache.withoutWaiting {
                    try key.withRef { k in try cache.withItem(k) { try coder.decode(T.self, from: $0.value) } }
                }
                if cache.hasDeferredWork { scheduleDeferredWork() }
                return value
            } catch let e as DiskCacheError where e.code == .wouldBlock {}
        }
        // `T` need not be Sendable: the bytes cross threads, the value is decoded here.
        guard let bytes = try await BlockingPool.shared.run({ try cache.get(key)?.value }) else { return nil }
        return try bytes.withUnsafeBytes { try coder.decode(T.self, from: $0) }
    }

    /// Stores `value` under `key`, replacing what was there; it expires after `ttl` (nil:
    /// never, unless evicted).
    public func set<T: Encodable>(_ value: T, forKey key: CacheKey, ttl: Duration? = nil) async throws {
        try await set(value, forKey: key, expires: ttl.map { .after($0) })
    }

    /// Stores `value` under `key`, expiring at `expires` (nil: never, unless evicted).
    public func set<T: Encodable>(_ value: T, forKey key: CacheKey, expires: ExpiryTime?) async throws {
        let data = try coder.encode(value)
        let kind = coder.kind
        try await perform { cache in
            try key.withRef { k in
                try data.withUnsafeBytes { try cache.set(k, kind: kind, value: $0, expireTime: expires?.secondsSince1970) }
            }
        }
    }

    /// Stores `value` under `key` only if no live item is there. Returns whether it stored
    /// (false: `key` was present).
    public func add<T: Encodable>(_ value: T, forKey key: CacheKey, ttl: Duration? = nil) async throws -> Bool {
        let data = try coder.encode(value)
        let kind = coder.kind
        let expires = ttl.map { ExpiryTime.after($0).secondsSince1970 }
        return try await perform { cache in
            try key.withRef { k in
                try data.withUnsafeBytes { try cache.add(k, kind: kind, value: $0, expireTime: expires) }
            }
        }
    }

    /// The value under `key`, or the one `compute` returns, which is then stored (expiring
    /// after `ttl`). Concurrent callers of one key in this process compute once: the others
    /// wait for that result (or its error). Other processes may compute too; the last store
    /// wins.
    ///
    /// For example:
    ///
    ///     let profile = try await cache.value(forKey: "profile:\(id)", ttl: .seconds(60)) {
    ///         try await database.profile(id)
    ///     }
    public func value<T: Codable & Sendable>(forKey key: CacheKey, ttl: Duration? = nil, compute: () async throws -> T) async throws -> T {
        if let hit = try await get(key, as: T.self) { return hit }
        while true {
            let (flight, leads) = flights.withLock { running -> (Flight, Bool) in
                if let f = running[key] { return (f, false) }
                let f = Flight()
                running[key] = f
                return (f, true)
            }
            if !leads {
                switch await flight.result() {
                case .success(let v as T): return v
                case .success:
                    // The leader computed another type under this key: look again.
                    if let hit = try await get(key, as: T.self) { return hit }
                    continue
                case .failure(let error): throw error
                }
            }
            let result: Result<T, any Error>
            do {
                // Stored by a flight that ended between our miss and our start?
                if let hit = try await get(key, as: T.self) {
                    result = .success(hit)
                } else {
                    let v = try await compute()
                    try await set(v, forKey: key, ttl: ttl)
                    result = .success(v)
                }
            } catch {
                result = .failure(error)
            }
            flights.withLock { $0[key] = nil }
            flight.finish(result.map { $0 as any Sendable })
            return try result.get()
        }
    }

    // MARK: Raw bytes

    /// The bytes stored under `key`, or nil.
    public func bytes(_ key: CacheKey) async throws -> [UInt8]? {
        try await perform { try $0.get(key)?.value }
    }

    /// Stores `bytes` under `key` (as `.blob`), expiring after `ttl`. Contiguous collections
    /// (`[UInt8]`, `Data`, `ArraySlice` ...) are written from their own storage.
    public func setBytes(_ bytes: some Collection<UInt8> & Sendable, forKey key: CacheKey, ttl: Duration? = nil) async throws {
        let expires = ttl.map { ExpiryTime.after($0).secondsSince1970 }
        try await perform { cache in
            try key.withRef { k in
                let stored: Void? = try bytes.withContiguousStorageIfAvailable {
                    try cache.set(k, kind: .blob, value: UnsafeRawBufferPointer($0), expireTime: expires)
                }
                if stored == nil {
                    try Array(bytes).withUnsafeBytes { try cache.set(k, kind: .blob, value: $0, expireTime: expires) }
                }
            }
        }
    }

    /// Calls `body` with the item under `key` as the cache holds it (its bytes are valid only
    /// inside `body`: no copy), and returns its result; nil if there is none. `body` may run on
    /// a pool thread, and must not call the cache.
    public func withItem<R: Sendable>(_ key: CacheKey, _ body: @escaping @Sendable (ItemView) throws -> R) async throws -> R? {
        try await perform { cache in try key.withRef { try cache.withItem($0, body) } }
    }

    // MARK: Other operations

    /// Removes the item under `key`. Returns whether there was a live one.
    @discardableResult
    public func remove(_ key: CacheKey) async throws -> Bool {
        try await perform { try $0.delete(key) }
    }

    /// Whether a live item is stored under `key`.
    public func contains(_ key: CacheKey) async throws -> Bool {
        try await perform { try $0.contains(key) }
    }

    /// Sets when the item under `key` expires (nil `ttl`: never). Returns whether there was a
    /// live item.
    @discardableResult
    public func touch(_ key: CacheKey, ttl: Duration?) async throws -> Bool {
        try await perform { try $0.touch(key, ttl: ttl) }
    }

    /// Adds `delta` to the integer under `key` (a missing key counts from 0), atomically
    /// across processes; returns the new value.
    @discardableResult
    public func incr(_ key: CacheKey, by delta: Int64 = 1) async throws -> Int64 {
        try await perform { try $0.incr(key, by: delta)! }
    }
}

/// One computation of `value(forKey:ttl:compute:)` that other callers wait for.
private final class Flight: Sendable {
    private struct State {
        var result: Result<any Sendable, any Error>?
        var waiters: [CheckedContinuation<Result<any Sendable, any Error>, Never>] = []
    }
    private let state = Mutex(State())

    func result() async -> Result<any Sendable, any Error> {
        await withCheckedContinuation { c in
            let ready: Result<any Sendable, any Error>? = state.withLock { s in
                if let r = s.result { return r }
                s.waiters.append(c)
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }

    func finish(_ result: Result<any Sendable, any Error>) {
        let waiters = state.withLock { s in
            s.result = result
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: result) }
    }
}
