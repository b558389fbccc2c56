import Foundation
import Synchronization

/// How many times a route computed its response.
public final class Counter: Sendable {
    private let count = Mutex(0)
    public init() {}
    public var value: Int { count.withLock { $0 } }
    public func increment() -> Int { count.withLock { $0 += 1; return $0 } }
}

/// A Codable value the tests store.
public struct Profile: Codable, Equatable, Sendable {
    public var name: String
    public var visits: Int
    public init(name: String, visits: Int) {
        self.name = name
        self.visits = visits
    }
}

/// A fresh directory under the system's temporary directory, removed after `body`.
public func withTemporaryDirectory<R>(prefix: String, _ body: (String) async throws -> R) async throws -> R {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url.path)
}
