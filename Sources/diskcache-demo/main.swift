// The engine's demo: caches real work (counting primes with a sieve) in a directory, then
// does the same work again and shows what the cache saved. Run it twice: the second run
// finds everything cached by the first, in another process.
#if canImport(Glibc)
import Glibc
#endif
import DiskCache

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// The work worth caching: how many primes are below `n`.
func countPrimes(below n: Int) -> Int64 {
    var composite = [Bool](repeating: false, count: n)
    var count: Int64 = 0
    var i = 2
    while i < n {
        if !composite[i] {
            count += 1
            var j = i * i
            while j < n { composite[j] = true; j += i }
        }
        i += 1
    }
    return count
}

let directory = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "/tmp/diskcache-demo"
let cache = try DiskCache(directory: directory, statistics: true)
let inputs = stride(from: 1_000_000, through: 8_000_000, by: 1_000_000).map { $0 }

func cachedCountPrimes(_ n: Int) throws -> (Int64, hit: Bool) {
    let key = StoredKey.text("primes-below-\(n)")
    if let item = try cache.get(key), let v = item.int { return (v, true) }
    let v = countPrimes(below: n)
    try cache.set(key, int: v)
    return (v, false)
}

print("diskcache-demo: cache at \(directory) holds \(try cache.count()) items")
for pass in 1...2 {
    var hits = 0, misses = 0
    let start = now()
    for n in inputs {
        let (v, hit) = try cachedCountPrimes(n)
        if hit { hits += 1 } else { misses += 1 }
        if pass == 1 { print("  primes below \(n): \(v)") }
    }
    let elapsed = now() - start
    print("pass \(pass): \(hits) hits, \(misses) misses, \(String(format2(elapsed * 1000))) ms")
}

// The cache's own speed on this machine, for scale.
let rounds = 100_000
let value = [UInt8](repeating: 7, count: 100)
var t = now()
for i in 0..<rounds { try cache.set(.int(Int64(i)), bytes: value) }
let setCost = (now() - t) / Double(rounds)
t = now()
for i in 0..<rounds { _ = try cache.get(.int(Int64(i))) }
let getCost = (now() - t) / Double(rounds)
for i in 0..<rounds { try cache.delete(.int(Int64(i))) }
print("engine: set \(format2(setCost * 1e6)) µs, get \(format2(getCost * 1e6)) µs per 100-byte item (\(rounds) each)")
let (h, m) = try cache.stats()
print("statistics (all processes, persisted): \(h) hits, \(m) misses")

func format2(_ x: Double) -> String {
    let scaled = (x * 100).rounded() / 100
    return "\(scaled)"
}
