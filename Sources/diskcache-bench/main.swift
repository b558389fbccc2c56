// Engine benchmark: per-operation medians for 100-byte values beside the raw syscall costs
// measured in the same run, and the cold open of a large cache.
//
//   swift run -c release diskcache-bench [--entries N] [--dir PATH]
//
// Each figure is the median (and p99) over batches of 100 operations, divided by 100:
// timing single sub-microsecond calls would measure the clock.
#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import DiskCache

func nanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func rssMB() -> Double {
    guard let f = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, f) != nil {
        let s = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if s.hasPrefix("VmRSS:") {
            let digits = s.filter { $0.isNumber }
            return (Double(digits) ?? 0) / 1024
        }
    }
    return 0
}

/// Median and p99 of per-op ns over `batches` batches of 100 calls of `op(i)`.
func measure(_ batches: Int, _ op: (Int) throws -> Void) rethrows -> (median: Double, p99: Double) {
    var samples: [Double] = []
    samples.reserveCapacity(batches)
    var i = 0
    for _ in 0..<batches {
        let t = nanos()
        for _ in 0..<100 { try op(i); i += 1 }
        samples.append(Double(nanos() - t) / 100)
    }
    samples.sort()
    return (samples[samples.count / 2], samples[min(samples.count - 1, samples.count * 99 / 100)])
}

func fmt(_ ns: Double) -> String {
    ns >= 1000 ? "\(Double(Int(ns / 10)) / 100) µs" : "\(Int(ns)) ns"
}

var entries = 1_000_000
var base = "/tmp/diskcache-bench"
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--entries": entries = Int(args.next() ?? "") ?? entries
    case "--dir": base = args.next() ?? base
    default: print("usage: diskcache-bench [--entries N] [--dir PATH]"); exit(2)
    }
}
_ = system("rm -rf '\(base)' && mkdir -p '\(base)'")

// Raw costs on the same filesystem.
let rawPath = base + "/raw"
let fd = open(rawPath, O_RDWR | O_CREAT, 0o644)
var block = [UInt8](repeating: 1, count: 1 << 20)
_ = pwrite(fd, &block, block.count, 0)
var small = [UInt8](repeating: 2, count: 128)
let rawPread = measure(2000) { i in _ = pread(fd, &small, 128, off_t((i * 4096) % (1 << 20))) }
let rawPwrite = measure(2000) { i in _ = pwrite(fd, &small, 128, off_t((i * 128) % (1 << 20))) }
let rawFlock = measure(2000) { _ in _ = dcs_flock(fd, LOCK_EX); _ = dcs_flock(fd, LOCK_UN) }
var st = stat()
let rawFstat = measure(2000) { _ in _ = fstat(fd, &st) }
close(fd)

let cache = try DiskCache(directory: base + "/small")
let value = [UInt8](repeating: 7, count: 100)
let n = 200_000
let keys: [[UInt8]] = (0..<(n + 100_000)).map { Array("key-\($0)".utf8) }

func withKey<R>(_ i: Int, _ body: (KeyRef) throws -> R) rethrows -> R {
    try keys[i % keys.count].withUnsafeBytes { try body(KeyRef(kind: .text, bytes: $0)) }
}

let setInsert = try value.withUnsafeBytes { v in try measure(n / 100) { i in try withKey(i) { try cache.set($0, kind: .blob, value: v) } } }
let setOverwrite = try value.withUnsafeBytes { v in try measure(n / 100) { i in try withKey(i) { try cache.set($0, kind: .blob, value: v) } } }
let getHit = try measure(n / 100) { i in _ = try withKey(i) { try cache.withItem($0) { $0.value.count } } }
let getCopy = try measure(n / 100) { i in _ = try withKey(i) { k in try cache.withItem(k) { Array($0.value) } } }
let getMiss = try measure(1000) { i in _ = try withKey(n + i) { try cache.withItem($0) { $0.value.count } } }
let contains = try measure(n / 100) { i in _ = try withKey(i) { try cache.contains($0) } }
let incr = try measure(n / 100) { i in _ = try withKey(i % 1000 + n) { try cache.incr($0, by: 1, initial: 0) } }
let delete = try measure(n / 100) { i in _ = try withKey(i) { try cache.delete($0) } }

// A large cache: fill once, then open it cold (a new DiskCache each time) and read one key.
let bigDir = base + "/big"
let rssBefore = rssMB()
var fillSeconds = 0.0
do {
    let big = try DiskCache(directory: bigDir)
    let t = nanos()
    try value.withUnsafeBytes { v in
        for i in 0..<entries {
            let k = Array("entry-\(i)".utf8)
            try k.withUnsafeBytes { try big.set(KeyRef(kind: .text, bytes: $0), kind: .blob, value: v) }
        }
    }
    fillSeconds = Double(nanos() - t) / 1e9
}
var opens: [Double] = []
var rssLoaded = 0.0
for _ in 0..<5 {
    let t = nanos()
    let c = try DiskCache(directory: bigDir)
    let k = Array("entry-\(entries / 2)".utf8)
    let hit = try k.withUnsafeBytes { try c.withItem(KeyRef(kind: .text, bytes: $0)) { $0.value.count } }
    opens.append(Double(nanos() - t) / 1e6)
    precondition(hit == 100)
    rssLoaded = rssMB()
}
opens.sort()

func row(_ name: String, _ m: (median: Double, p99: Double), target: Double? = nil, raw: Double? = nil) {
    let verdict = target.map { m.median <= $0 ? "met (≤ \(fmt($0)))" : "MISSED (≤ \(fmt($0)))" } ?? ""
    let ratio = raw.map { "\(Double(Int(m.median / $0 * 10)) / 10)× pread" } ?? ""
    print("| \(name) | \(fmt(m.median)) | \(fmt(m.p99)) | \(ratio) | \(verdict) |")
}

print("| operation (100-byte values) | median | p99 | vs raw | target |")
print("|---|---|---|---|---|")
row("raw pread 128 B", rawPread)
row("raw pwrite 128 B", rawPwrite)
row("raw flock lock+unlock", rawFlock)
row("raw fstat", rawFstat)
row("get hit (no copy)", getHit, target: 1000, raw: rawPread.median)
row("get hit (copy out)", getCopy, target: 1000, raw: rawPread.median)
row("get miss", getMiss, target: 1000, raw: rawPread.median)
row("contains", contains, raw: rawPread.median)
row("set (new key)", setInsert, target: 2500, raw: rawPread.median)
row("set (overwrite)", setOverwrite, target: 2500, raw: rawPread.median)
row("incr", incr, raw: rawPread.median)
row("delete", delete, target: 2500, raw: rawPread.median)
let openMedian = opens[opens.count / 2]
print("| open + first get, \(entries) entries | \(Double(Int(openMedian * 10)) / 10) ms | max \(Double(Int(opens.last! * 10)) / 10) ms | | \(openMedian <= 20 ? "met" : "MISSED") (≤ 20 ms) |")
let rssDelta = rssLoaded - rssBefore
print("| resident memory, \(entries) entries loaded | \(Int(rssDelta)) MB | | | \(rssDelta <= 120 ? "met" : "MISSED") (≤ 120 MB) |")
print("| fill \(entries) entries | \(Int(Double(entries) / fillSeconds)) sets/s | | | |")
