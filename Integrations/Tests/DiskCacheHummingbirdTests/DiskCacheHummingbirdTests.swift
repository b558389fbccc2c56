import DiskCacheHummingbird
import DiskCacheKit
import Foundation
import IntegrationTestSupport
import Hummingbird
import HummingbirdAuth
import HummingbirdTesting
import Testing

/// A fresh directory under the system's temporary directory, removed after `body`.
func withTemporaryDirectory<R>(_ body: (String) async throws -> R) async throws -> R {
    try await withTemporaryDirectory(prefix: "dchb", body)
}

/// An app whose `/report` route computes its body once per `ttl` and caches it in `persist`.
func reportApp(_ persist: DiskPersistDriver, computed: Counter, ttl: Duration?) -> some ApplicationProtocol {
    let router = Router()
    router.get("report") { _, _ -> String in
        if let cached = try await persist.get(key: "report", as: String.self) { return cached }
        let n = computed.increment()
        let body = "report #\(n)"
        try await persist.set(key: "report", value: body, expires: ttl)
        return body
    }
    return Application(router: router, services: [persist])
}

@Suite struct DiskPersistDriverTests {
    @Test func routeIsServedFromTheCacheUntilItExpires() async throws {
        try await withTemporaryDirectory { path in
            let computed = Counter()
            let app = reportApp(try DiskPersistDriver(directory: path), computed: computed, ttl: .seconds(1))
            try await app.test(.router) { client in
                try await client.execute(uri: "/report", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == "report #1")
                }
                try await client.execute(uri: "/report", method: .get) { response in
                    #expect(String(buffer: response.body) == "report #1")
                }
                #expect(computed.value == 1)
                try await Task.sleep(for: .milliseconds(1300))
                try await client.execute(uri: "/report", method: .get) { response in
                    #expect(String(buffer: response.body) == "report #2")
                }
            }
            #expect(computed.value == 2)
        }
    }

    @Test func cachedResponseSurvivesAnApplicationRestart() async throws {
        try await withTemporaryDirectory { path in
            let computed = Counter()
            for _ in 0..<2 {
                let app = reportApp(try DiskPersistDriver(directory: path), computed: computed, ttl: nil)
                try await app.test(.router) { client in
                    try await client.execute(uri: "/report", method: .get) { response in
                        #expect(String(buffer: response.body) == "report #1")
                    }
                }
            }
            #expect(computed.value == 1)
        }
    }

    @Test func createSetGetRemove() async throws {
        try await withTemporaryDirectory { path in
            let persist = try DiskPersistDriver(directory: path)
            #expect(try await persist.get(key: "user:1", as: Profile.self) == nil)

            try await persist.create(key: "user:1", value: Profile(name: "ada", visits: 1))
            await #expect(throws: PersistError.duplicate) {
                try await persist.create(key: "user:1", value: Profile(name: "someone else", visits: 0))
            }
            #expect(try await persist.get(key: "user:1", as: Profile.self) == Profile(name: "ada", visits: 1))

            try await persist.set(key: "user:1", value: Profile(name: "ada", visits: 2))
            #expect(try await persist.get(key: "user:1", as: Profile.self)?.visits == 2)

            try await persist.remove(key: "user:1")
            #expect(try await persist.get(key: "user:1", as: Profile.self) == nil)
            try await persist.remove(key: "user:1")  // removing a missing key is not an error
            try await persist.create(key: "user:1", value: Profile(name: "grace", visits: 1))
            #expect(try await persist.get(key: "user:1", as: Profile.self)?.name == "grace")
        }
    }

    @Test func aValueOfAnotherTypeIsAnInvalidConversion() async throws {
        try await withTemporaryDirectory { path in
            let persist = try DiskPersistDriver(directory: path)
            try await persist.set(key: "k", value: "text")
            await #expect(throws: PersistError.invalidConversion) {
                _ = try await persist.get(key: "k", as: Profile.self)
            }
            #expect(try await persist.get(key: "k", as: String.self) == "text")
        }
    }

    @Test func itemsExpireAfterTheirTTL() async throws {
        try await withTemporaryDirectory { path in
            let persist = try DiskPersistDriver(directory: path)
            try await persist.create(key: "short", value: 1, expires: .seconds(1))
            try await persist.set(key: "long", value: 2, expires: .seconds(60))
            let (value, ttl) = try #require(try await persist.getWithTTL(key: "short", as: Int.self))
            #expect(value == 1)
            #expect(try #require(ttl) <= .seconds(1))
            #expect(try await persist.getWithTTL(key: "long", as: Int.self)?.ttl.map { $0 > .seconds(30) } == true)

            try await Task.sleep(for: .milliseconds(1300))
            #expect(try await persist.get(key: "short", as: Int.self) == nil)
            #expect(try await persist.getWithTTL(key: "short", as: Int.self) == nil)
            #expect(try await persist.get(key: "long", as: Int.self) == 2)
            // An expired key is absent: create succeeds.
            try await persist.create(key: "short", value: 3)
            #expect(try await persist.get(key: "short", as: Int.self) == 3)
            #expect(try await persist.getWithTTL(key: "short", as: Int.self)?.ttl == nil)
        }
    }

    @Test func setWithoutExpiryKeepsTheExistingExpiry() async throws {
        try await withTemporaryDirectory { path in
            let persist = try DiskPersistDriver(directory: path)
            try await persist.set(key: "k", value: 1, expires: .seconds(1))
            try await persist.set(key: "k", value: 2)
            #expect(try await persist.get(key: "k", as: Int.self) == 2)
            #expect(try await persist.getWithTTL(key: "k", as: Int.self)?.ttl != nil)
            try await Task.sleep(for: .milliseconds(1300))
            #expect(try await persist.get(key: "k", as: Int.self) == nil)
        }
    }

    @Test func valuesAreSharedWithAsyncDiskCache() async throws {
        try await withTemporaryDirectory { path in
            let shared = try AsyncDiskCache(directory: path)
            let persist = DiskPersistDriver(shared)
            try await persist.set(key: "user:2", value: Profile(name: "grace", visits: 1))
            #expect(try await shared.get("user:2", as: Profile.self) == Profile(name: "grace", visits: 1))
        }
    }
}

struct Visits: Codable, Sendable {
    var count: Int
}

/// An app keeping a visit counter in a session stored through `persist`.
func sessionApp(_ persist: DiskPersistDriver, sessionTTL: Duration) -> some ApplicationProtocol {
    let router = Router(context: BasicSessionRequestContext<Visits, String>.self)
    router.addMiddleware { SessionMiddleware(storage: persist) }
    router.put("session") { _, context -> HTTPResponse.Status in
        context.sessions.createSession(Visits(count: 0), expiresIn: sessionTTL)
        return .ok
    }
    router.get("visit") { _, context -> String in
        guard var visits = context.sessions.session else { return "no session" }
        visits.count += 1
        _ = context.sessions.updateSession(visits)
        return "\(visits.count)"
    }
    return Application(router: router, services: [persist])
}

@Suite struct DiskPersistDriverSessionTests {
    @Test func sessionsAreStoredThroughTheDriverAndSurviveARestart() async throws {
        try await withTemporaryDirectory { path in
            let cookie = try await sessionApp(try DiskPersistDriver(directory: path), sessionTTL: .seconds(60)).test(.router) { client in
                let cookie = try await client.execute(uri: "/session", method: .put) { response in
                    #expect(response.status == .ok)
                    return response.headers[.setCookie]
                }
                let cookies = try #require(cookie)
                for expected in ["1", "2"] {
                    try await client.execute(uri: "/visit", method: .get, headers: [.cookie: cookies]) { response in
                        #expect(String(buffer: response.body) == expected)
                    }
                }
                return cookies
            }
            try await sessionApp(try DiskPersistDriver(directory: path), sessionTTL: .seconds(60)).test(.router) { client in
                try await client.execute(uri: "/visit", method: .get, headers: [.cookie: cookie]) { response in
                    #expect(String(buffer: response.body) == "3")
                }
                try await client.execute(uri: "/visit", method: .get) { response in
                    #expect(String(buffer: response.body) == "no session")
                }
            }
        }
    }

    @Test func aSessionExpiresAtItsTTLEvenWhenUpdated() async throws {
        try await withTemporaryDirectory { path in
            try await sessionApp(try DiskPersistDriver(directory: path), sessionTTL: .seconds(1)).test(.router) { client in
                let cookies = try #require(try await client.execute(uri: "/session", method: .put) { $0.headers[.setCookie] })
                try await Task.sleep(for: .milliseconds(500))
                // Updating the session (without a new expiry) keeps its expiry.
                try await client.execute(uri: "/visit", method: .get, headers: [.cookie: cookies]) { response in
                    #expect(String(buffer: response.body) == "1")
                }
                try await Task.sleep(for: .milliseconds(700))
                try await client.execute(uri: "/visit", method: .get, headers: [.cookie: cookies]) { response in
                    #expect(String(buffer: response.body) == "no session")
                }
            }
        }
    }
}
