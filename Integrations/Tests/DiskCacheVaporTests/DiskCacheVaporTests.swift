import DiskCache
import DiskCacheKit
import DiskCacheVapor
import Foundation
import IntegrationTestSupport
import Testing
import VaporTesting

/// A fresh directory under the system's temporary directory, removed after `body`.
func withTemporaryDirectory<R>(_ body: (String) async throws -> R) async throws -> R {
    try await withTemporaryDirectory(prefix: "dcvapor", body)
}

/// An app whose `/report` route computes its body once per `ttl` and caches it.
func configureReport(_ app: Application, path: String, computed: Counter, ttl: CacheExpirationTime?) {
    app.caches.use(.disk(path: path))
    app.get("report") { req async throws -> String in
        if let cached = try await req.cache.get("report", as: String.self) { return cached }
        let n = computed.increment()
        let body = "report #\(n)"
        try await req.cache.set("report", to: body, expiresIn: ttl)
        return body
    }
}

@Suite struct DiskCacheVaporTests {
    @Test func routeIsServedFromTheCacheUntilItExpires() async throws {
        try await withTemporaryDirectory { path in
            let computed = Counter()
            try await withApp(configure: { configureReport($0, path: path, computed: computed, ttl: .seconds(1)) }) { app in
                try await app.testing().test(.GET, "report") { res in
                    #expect(res.status == .ok)
                    #expect(res.body.string == "report #1")
                }
                try await app.testing().test(.GET, "report") { res in
                    #expect(res.body.string == "report #1")
                }
                #expect(computed.value == 1)
                // Expiry is given in whole seconds; wait past it.
                try await Task.sleep(for: .milliseconds(1300))
                try await app.testing().test(.GET, "report") { res in
                    #expect(res.body.string == "report #2")
                }
                #expect(computed.value == 2)
            }
        }
    }

    @Test func cachedResponseSurvivesAnApplicationRestart() async throws {
        try await withTemporaryDirectory { path in
            let computed = Counter()
            try await withApp(configure: { configureReport($0, path: path, computed: computed, ttl: nil) }) { app in
                try await app.testing().test(.GET, "report") { res in
                    #expect(res.body.string == "report #1")
                }
            }
            try await withApp(configure: { configureReport($0, path: path, computed: computed, ttl: nil) }) { app in
                try await app.testing().test(.GET, "report") { res in
                    #expect(res.body.string == "report #1")
                }
            }
            #expect(computed.value == 1)
        }
    }

    @Test func getSetDeleteRoundTrips() async throws {
        try await withTemporaryDirectory { path in
            try await withApp(configure: { $0.caches.use(.disk(path: path)) }) { app in
                let cache = app.cache
                #expect(try await cache.get("missing", as: Profile.self) == nil)

                let profile = Profile(name: "ada", visits: 3)
                try await cache.set("user:1", to: profile)
                #expect(try await cache.get("user:1", as: Profile.self) == profile)

                try await cache.set("user:1", to: Profile(name: "ada", visits: 4))
                #expect(try await cache.get("user:1", as: Profile.self)?.visits == 4)

                try await cache.delete("user:1")
                #expect(try await cache.get("user:1", as: Profile.self) == nil)

                try await cache.set("n", to: 42)
                try await cache.set("n", to: Int?.none)  // nil removes, as Vapor's Cache defines
                #expect(try await cache.get("n", as: Int.self) == nil)

                try await cache.set("short", to: "soon gone", expiresIn: .seconds(1))
                #expect(try await cache.get("short", as: String.self) == "soon gone")
                try await Task.sleep(for: .milliseconds(1300))
                #expect(try await cache.get("short", as: String.self) == nil)
            }
        }
    }

    @Test func valuesAreSharedWithAsyncDiskCache() async throws {
        try await withTemporaryDirectory { path in
            let shared = try AsyncDiskCache(directory: path)
            try await withApp(configure: { $0.caches.use(.disk(shared)) }) { app in
                try await app.cache.set("user:2", to: Profile(name: "grace", visits: 1))
                #expect(try await shared.get("user:2", as: Profile.self) == Profile(name: "grace", visits: 1))

                try await shared.set(Profile(name: "linus", visits: 9), forKey: "user:3")
                #expect(try await app.cache.get("user:3", as: Profile.self) == Profile(name: "linus", visits: 9))
            }
        }
    }

    @Test func aValueOfAnotherTypeFailsToDecodeAndStaysStored() async throws {
        try await withTemporaryDirectory { path in
            try await withApp(configure: { $0.caches.use(.disk(path: path)) }) { app in
                try await app.cache.set("k", to: "text")
                await #expect(throws: DecodingError.self) {
                    _ = try await app.cache.get("k", as: Profile.self)
                }
                #expect(try await app.cache.get("k", as: String.self) == "text")
            }
        }
    }

    @Test func aDirectoryThatCannotBeOpenedFailsEachOperationNamingThePath() async throws {
        try await withTemporaryDirectory { path in
            // A regular file where the directory should be.
            _ = FileManager.default.createFile(atPath: path, contents: Data("x".utf8))
            try await withApp(configure: { $0.caches.use(.disk(path: path)) }) { app in
                let error = await #expect(throws: DiskCacheError.self) {
                    try await app.cache.set("k", to: 1)
                }
                #expect(error.map { "\($0)".contains(path) } == true)
                await #expect(throws: DiskCacheError.self) {
                    _ = try await app.cache.get("k", as: Int.self)
                }
            }
        }
    }
}
