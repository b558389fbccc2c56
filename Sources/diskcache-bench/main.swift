// Engine benchmark: per-operation latency for 100-byte values beside the raw syscall costs
// measured in the same run on the same filesystem, and the cold open of a large cache.
//
//   swift run -c release diskcache-bench [--entries N] [--ops N] [--dir PATH]
//
//   --entries N   size of the cache opened cold (default 1000000)
//   --ops N       timed operations per row (default 200000)
//   --dir PATH    where to work (default /tmp/diskcache-bench); only its subdirectories
//                 raw/, ops/ and big/ are created and removed
//   --keep        leave them behind (a later run with the same --entries reuses big/)
//
// Every operation is timed on its own with clock_gettime (vDSO); the timer's own cost,
// measured the same way, is subtracted. Median and p99 are over those single-op samples, so
// p99 shows the real tail (table growth, compaction), and mean is what a loop sustains.
//
// Internal modes, used by the benchmark itself and handy under a profiler:
//   diskcache-bench --child-open DIR KEY   open DIR, get KEY; print ns and RSS figures
#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import DiskCache

// MARK: Clock, memory, files

@inline(__always)
func nanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// A field of /proc/self/status in kB (VmRSS, VmHWM …), 0 if absent.
func procStatusKB(_ field: String) -> Int {
    let fd = open("/proc/self/status", O_RDONLY)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: 8192)
    let n = read(fd, &buf, buf.count)
    guard n > 0 else { return 0 }
    let text = String(decoding: buf[0..<n], as: UTF8.self)
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.dropFirst(field.count + 1).filter { $0.isNumber }) ?? 0
    }
    return 0
}

/// Removes a directory tree (no symlinks followed). Missing is fine.
func removeTree(_ path: String) {
    _ = nftw(path, { p, _, _, _ in remove(p!) }, 16, FTW_DEPTH | FTW_PHYS)
}

func shellQuote(_ s: String) -> String {
    "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
}

func fail(_ message: String) -> Never {
    fputs("diskcache-bench: \(message)\n", stderr)
    exit(1)
}

// MARK: Keys

/// Key bytes laid out once in one buffer that lives for the whole run, so a timed loop only
/// picks a prebuilt `KeyRef`.
struct KeySet {
    let refs: [KeyRef]
    let bytes: [[UInt8]]

    init(_ prefix: String, _ count: Int) {
        var all: [[UInt8]] = []
        all.reserveCapacity(count)
        var total = 0
        for i in 0..<count {
            let b = Array("\(prefix)\(i)".utf8)
            total += b.count
            all.append(b)
        }
        let arena = UnsafeMutableRawPointer.allocate(byteCount: max(total, 1), alignment: 8)
        var refs: [KeyRef] = []
        refs.reserveCapacity(count)
        var at = 0
        for b in all {
            b.withUnsafeBytes { (arena + at).copyMemory(from: $0.baseAddress!, byteCount: b.count) }
            refs.append(KeyRef(kind: .text, bytes: UnsafeRawBufferPointer(start: arena + at, count: b.count)))
            at += b.count
        }
        self.refs = refs
        self.bytes = all
    }
}

/// A fixed permutation of 0..<n (n not a multiple of the prime): reads in an order that is
/// not the log's, so they do not ride on sequential locality.
@inline(__always)
func scattered(_ i: Int, _ n: Int) -> Int { n % 7919 == 0 ? i : (i &* 7919) % n }

// MARK: Measuring

struct Stats {
    var median: Double
    var p99: Double
    var mean: Double
    var max: Double
}

let timerOverhead: Double = {
    var s = [UInt64](repeating: 0, count: 100_000)
    for i in s.indices {
        let t = nanos()
        s[i] = nanos() &- t
    }
    s.sort()
    return Double(s[s.count / 2])
}()

/// Times `count` calls of `op(i)`, each on its own, after `warmup` calls of `warm(i)`.
func measure(_ count: Int, warmup: Int = 0, warm: ((Int) throws -> Void)? = nil, _ op: (Int) throws -> Void) rethrows -> Stats {
    if let warm { for i in 0..<warmup { try warm(i) } } else { for i in 0..<warmup { try op(i) } }
    var samples = [UInt64](repeating: 0, count: count)
    try samples.withUnsafeMutableBufferPointer { s in
        for i in 0..<count {
            let t = nanos()
            try op(i)
            s[i] = nanos() &- t
        }
    }
    var sum: UInt64 = 0
    for v in samples { sum &+= v }
    samples.sort()
    func at(_ q: Double) -> Double { Swift.max(0, Double(samples[Swift.min(samples.count - 1, Int(Double(samples.count) * q))]) - timerOverhead) }
    return Stats(median: at(0.5), p99: at(0.99), mean: Swift.max(0, Double(sum) / Double(count) - timerOverhead),
                 max: Double(samples.last!) - timerOverhead)
}

func fmt(_ ns: Double) -> String {
    func fixed(_ v: Double, _ digits: Int) -> String {
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        let r = (v * p).rounded() / p
        var s = String(r)
        if let dot = s.firstIndex(of: ".") {
            let have = s.distance(from: dot, to: s.endIndex) - 1
            if have < digits { s += String(repeating: "0", count: digits - have) }
        }
        return s
    }
    if ns < 1000 { return "\(Int(ns.rounded())) ns" }
    if ns < 1_000_000 { return fixed(ns / 1000, 2) + " µs" }
    return fixed(ns / 1_000_000, 1) + " ms"
}

func ratio(_ a: Double, _ b: Double) -> String {
    let r = (a / b * 10).rounded() / 10
    return "\(r)×"
}

// MARK: Child mode: cold open in a fresh process

let argv = Array(CommandLine.arguments.dropFirst())
if argv.first == "--child-open" {
    guard argv.count == 3 else { fail("--child-open DIR KEY") }
    let key = Array(argv[2].utf8)
    let rssBefore = procStatusKB("VmRSS")
    let t = nanos()
    let cache: DiskCache
    do { cache = try DiskCache(directory: argv[1]) } catch { fail("open \(argv[1]): \(error)") }
    let found = try key.withUnsafeBytes { try cache.withItem(KeyRef(kind: .text, bytes: $0)) { $0.value.count } }
    let elapsed = nanos() - t
    guard found != nil else { fail("key \(argv[2]) missing in \(argv[1])") }
    print(elapsed, rssBefore, procStatusKB("VmRSS"), procStatusKB("VmHWM"))
    withExtendedLifetime(cache) {}
    exit(0)
}

// MARK: Arguments

var entries = 1_000_000
var opsCount = 200_000
var base = "/tmp/diskcache-bench"
var keep = false
do {
    var it = argv.makeIterator()
    while let a = it.next() {
        switch a {
        case "--entries": entries = Int(it.next() ?? "") ?? -1
        case "--ops": opsCount = Int(it.next() ?? "") ?? -1
        case "--dir": base = it.next() ?? ""
        case "--keep": keep = true
        default: fail("usage: diskcache-bench [--entries N] [--ops N] [--dir PATH] [--keep]")
        }
    }
    if entries < 1 || opsCount < 1000 || base.isEmpty { fail("usage: diskcache-bench [--entries N ≥ 1] [--ops N ≥ 1000] [--dir PATH] [--keep]") }
}
let rawDir = base + "/raw", opsDir = base + "/ops", bigDir = base + "/big"
removeTree(rawDir)
removeTree(opsDir)
mkdir(base, 0o755)
mkdir(rawDir, 0o755)
let fsType = stat_fs_type(base)
func stat_fs_type(_ p: String) -> String {
    switch dcs_statfs_type(p) {
    case 0xEF53: return "ext2/3/4"
    case 0x0102_1994: return "tmpfs"
    case 0x5846_5342: return "xfs"
    case 0x9123_683E: return "btrfs"
    case 0x6573_5546: return "fuse"
    case let t: return "0x" + String(t, radix: 16)
    }
}

let n = opsCount
let warmup = max(1000, n / 10)
var rows: [(String, Stats, String, String)] = []   // name, stats, vs raw, target verdict

// MARK: Raw syscalls on the same filesystem

let rawOps = min(n, 100_000)
let fd = open(rawDir + "/data", O_RDWR | O_CREAT | O_TRUNC, 0o644)
if fd < 0 { fail("open \(rawDir)/data: errno \(errno)") }
var block = [UInt8](repeating: 1, count: 1 << 24)   // 16 MiB, all in the page cache
_ = pwrite(fd, &block, block.count, 0)
block = []
var small = [UInt8](repeating: 2, count: 128)
let rawClock = measure(rawOps) { _ in _ = nanos() }   // what is left after subtracting the timer
let rawPread = measure(rawOps, warmup: warmup) { i in _ = pread(fd, &small, 128, off_t((scattered(i, 131_071) * 128) % (1 << 24))) }
let rawPwrite = measure(rawOps, warmup: warmup) { i in _ = pwrite(fd, &small, 128, off_t((i * 128) % (1 << 24))) }
let appendFD = open(rawDir + "/append", O_RDWR | O_CREAT | O_TRUNC, 0o644)
var appendEnd: off_t = 0
let rawAppend = measure(rawOps, warmup: warmup) { _ in _ = pwrite(appendFD, &small, 128, appendEnd); appendEnd += 128 }
let rawFlock = measure(rawOps, warmup: warmup) { _ in _ = dcs_flock(fd, LOCK_EX); _ = dcs_flock(fd, LOCK_UN) }
var st = stat()
let rawFstat = measure(rawOps, warmup: warmup) { _ in _ = fstat(fd, &st) }
var tsReal = timespec()
let rawRealtime = measure(rawOps, warmup: warmup) { _ in _ = clock_gettime(CLOCK_REALTIME, &tsReal) }
close(fd)
close(appendFD)
removeTree(rawDir)

/// The least a read can cost: one pread. The least a write can cost: lock, append, unlock.
let readFloor = rawPread.median
let writeFloor = rawFlock.median + rawAppend.median

// MARK: Engine operations

let hitKeys = KeySet("key-", n)
let missKeys = KeySet("absent-", n)
let warmKeys = KeySet("warm-", warmup)
let counterKeys = KeySet("counter-", 1000)
let storedHitKeys = hitKeys.bytes.map { StoredKey(kind: .text, bytes: $0) }
let value = [UInt8](repeating: 7, count: 100)

let cache: DiskCache
do { cache = try DiskCache(directory: opsDir) } catch { fail("open \(opsDir): \(error)") }
var sink = 0

let setInsert = try value.withUnsafeBytes { v in
    try measure(n, warmup: warmup, warm: { try cache.set(warmKeys.refs[$0], kind: .blob, value: v) }) {
        try cache.set(hitKeys.refs[$0], kind: .blob, value: v)
    }
}
let setOverwrite = try value.withUnsafeBytes { v in
    try measure(n, warmup: warmup) { try cache.set(hitKeys.refs[scattered($0, n)], kind: .blob, value: v) }
}
let getHit = try measure(n, warmup: warmup) { i in
    sink &+= try cache.withItem(hitKeys.refs[scattered(i, n)]) { $0.value.count } ?? -1_000_000
}
let getCopy = try measure(n, warmup: warmup) { i in
    sink &+= try cache.get(storedHitKeys[scattered(i, n)])?.value.count ?? -1_000_000
}
let getMiss = try measure(n, warmup: warmup) { i in
    sink &+= try cache.withItem(missKeys.refs[scattered(i, n)]) { $0.value.count } ?? 1
}
let containsHit = try measure(n, warmup: warmup) { i in
    sink &+= try cache.contains(hitKeys.refs[scattered(i, n)]) ? 1 : 0
}
let incr = try measure(n, warmup: warmup) { i in
    if case .int(let v)? = try cache.incr(counterKeys.refs[i % 1000], by: 1, initial: 0) { sink &+= Int(v) }
}
let delete = try measure(n, warmup: warmup, warm: { _ = try cache.delete(warmKeys.refs[$0]) }) { i in
    sink &+= try cache.delete(hitKeys.refs[scattered(i, n)]) ? 1 : 0
}
if sink != n * 100 * 2 + n + n + 1000 * ((warmup + n) / 1000) * ((warmup + n) / 1000 + 1) / 2 + n {
    // Not an exact audit (incr's sum depends on n modulo 1000); a gross miscount means misses.
    if sink < n * 200 { fail("operations did not find their keys (checksum \(sink))") }
}
cache.close()
if !keep { removeTree(opsDir) }

// MARK: Cold open of a large cache

/// Creates (or, with --keep from an earlier run, reuses) a cache of `entries` 100-byte values.
func fillBig() throws -> Double? {
    let probe = Array("entry-\(entries - 1)".utf8)
    if let existing = try? DiskCache(directory: bigDir),
       (try? probe.withUnsafeBytes({ try existing.contains(KeyRef(kind: .text, bytes: $0)) })) == true,
       (try? Array("entry-\(entries)".utf8).withUnsafeBytes({ try existing.contains(KeyRef(kind: .text, bytes: $0)) })) == false {
        return nil
    }
    removeTree(bigDir)
    let big = try DiskCache(directory: bigDir)
    var key = [UInt8](repeating: 0, count: 32)
    let t = nanos()
    try value.withUnsafeBytes { v in
        for i in 0..<entries {
            // "entry-<i>" without String formatting in the loop.
            var len = 0
            for c in "entry-".utf8 { key[len] = c; len += 1 }
            var digits = 0, x = i
            repeat { digits += 1; x /= 10 } while x > 0
            x = i
            for d in stride(from: len + digits - 1, through: len, by: -1) { key[d] = UInt8(48 + x % 10); x /= 10 }
            len += digits
            try key.withUnsafeBytes { try big.set(KeyRef(kind: .text, bytes: UnsafeRawBufferPointer(rebasing: $0[0..<len])), kind: .blob, value: v) }
        }
    }
    return Double(nanos() - t) / 1e9
}
let fillSeconds = try fillBig()
let segmentBytes: Int = {
    var total = 0
    guard let d = opendir(bigDir) else { return 0 }
    defer { closedir(d) }
    while let e = readdir(d) {
        let name = withUnsafePointer(to: e.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
        var s = stat()
        if stat(bigDir + "/" + name, &s) == 0 && (s.st_mode & S_IFMT) == S_IFREG { total += Int(s.st_size) }
    }
    return total
}()

let probeKey = Array("entry-\(entries / 2)".utf8)
var inProcess: [Double] = []
for _ in 0..<5 {
    let t = nanos()
    let c = try DiskCache(directory: bigDir)
    let hit = try probeKey.withUnsafeBytes { try c.withItem(KeyRef(kind: .text, bytes: $0)) { $0.value.count } }
    inProcess.append(Double(nanos() - t))
    if hit != 100 { fail("cold get found \(String(describing: hit))") }
}
inProcess.sort()

struct ChildRun { var openNs: Double; var wallNs: Double; var rssBeforeKB: Int; var rssAfterKB: Int; var hwmKB: Int }
func childOpen() -> ChildRun? {
    var path = [CChar](repeating: 0, count: 4096)
    let len = readlink("/proc/self/exe", &path, path.count - 1)
    guard len > 0 else { return nil }
    let exe = String(decoding: path[0..<len].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let cmd = [exe, "--child-open", bigDir, "entry-\(entries / 2)"].map(shellQuote).joined(separator: " ")
    let t = nanos()
    guard let p = popen(cmd, "r") else { return nil }
    var line = [CChar](repeating: 0, count: 256)
    let got = fgets(&line, Int32(line.count), p) != nil
    let status = pclose(p)
    let wall = Double(nanos() - t)
    guard got, status == 0 else { return nil }
    let f = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        .split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }
    guard f.count == 4 else { return nil }
    return ChildRun(openNs: f[0], wallNs: wall, rssBeforeKB: Int(f[1]), rssAfterKB: Int(f[2]), hwmKB: Int(f[3]))
}
var children: [ChildRun] = []
for _ in 0..<3 { if let c = childOpen() { children.append(c) } }
children.sort { $0.openNs < $1.openNs }
if !keep { removeTree(bigDir) }

// MARK: Report

func verdict(_ v: Double, _ target: Double, _ show: (Double) -> String) -> String {
    (v <= target ? "met" : "**MISSED**") + " (≤ \(show(target)))"
}

print("diskcache-bench: \(n) timed ops per row after \(warmup) warm-up ops, 100-byte values, text keys; filesystem \(fsType) at \(base)")
print("timer cost \(Int(timerOverhead)) ns per sample (subtracted)")
print("")
print("| operation | median | p99 | mean | max | vs raw floor (median) | target (median) |")
print("|---|---|---|---|---|---|---|")
func row(_ name: String, _ s: Stats, floor: (Double, String)? = nil, target: Double? = nil) {
    let vs = floor.map { "\(ratio(s.median, $0.0)) \($0.1)" } ?? ""
    let t = target.map { verdict(s.median, $0, fmt) } ?? ""
    print("| \(name) | \(fmt(s.median)) | \(fmt(s.p99)) | \(fmt(s.mean)) | \(fmt(s.max)) | \(vs) | \(t) |")
}
row("raw `pread` 128 B (page cache)", rawPread)
row("raw `pwrite` 128 B, in place", rawPwrite)
row("raw `pwrite` 128 B, appending", rawAppend)
row("raw `flock` lock+unlock", rawFlock)
row("raw `fstat`", rawFstat)
row("raw `clock_gettime(REALTIME)`", rawRealtime)
let readFloorName = "pread (\(fmt(readFloor)))"
let writeFloorName = "flock+append (\(fmt(writeFloor)))"
row("get hit, `withItem` reading `value.count`", getHit, floor: (readFloor, readFloorName), target: 1000)
row("get hit, copying `get` → `Item`", getCopy, floor: (readFloor, readFloorName), target: 1000)
row("get miss", getMiss, floor: (readFloor, readFloorName), target: 1000)
row("contains (hit)", containsHit, floor: (readFloor, readFloorName))
row("set, new key", setInsert, floor: (writeFloor, writeFloorName), target: 2500)
row("set, overwrite", setOverwrite, floor: (writeFloor, writeFloorName), target: 2500)
row("incr (1000 counters)", incr, floor: (writeFloor, writeFloorName))
row("delete", delete, floor: (writeFloor, writeFloorName), target: 2500)

let entriesLabel = entries == 1_000_000 ? "1M" : "\(entries)"
let scaleNote = entries == 1_000_000 ? "" : " (target is for 1M)"
let ms: (Double) -> String = { fmt($0 * 1_000_000) }
print("")
print("| cold open, \(entriesLabel) entries (log \(segmentBytes / 1_000_000) MB) | median | min | max | target |")
print("|---|---|---|---|---|")
let ipMed = inProcess[inProcess.count / 2] / 1e6
print("| open + first get, same process, fresh `DiskCache` ×\(inProcess.count) | \(ms(ipMed)) | \(ms(inProcess.first! / 1e6)) | \(ms(inProcess.last! / 1e6)) | \(verdict(ipMed, 20, ms))\(scaleNote) |")
if children.isEmpty {
    print("| open + first get, child process | (child failed) | | | |")
} else {
    let med = children[children.count / 2]
    print("| open + first get, child process ×\(children.count) | \(ms(med.openNs / 1e6)) | \(ms(children.first!.openNs / 1e6)) | \(ms(children.last!.openNs / 1e6)) | \(verdict(med.openNs / 1e6, 20, ms))\(scaleNote) |")
    let walls = children.map(\.wallNs).sorted()
    print("| child process wall time incl. exec + runtime start | \(ms(walls[walls.count / 2] / 1e6)) | \(ms(walls.first! / 1e6)) | \(ms(walls.last! / 1e6)) | |")
    let deltaMB = Double(med.rssAfterKB - med.rssBeforeKB) / 1024
    let mb: (Double) -> String = { "\(Int($0.rounded())) MB" }
    print("| RSS growth, child, before → after open (\(mb(Double(med.rssBeforeKB) / 1024)) → \(mb(Double(med.rssAfterKB) / 1024))) | \(mb(deltaMB)) | | | \(verdict(deltaMB, 120, mb))\(scaleNote) |")
    print("| peak RSS (VmHWM), child | \(mb(Double(med.hwmKB) / 1024)) | | | |")
}
if let fillSeconds {
    print("| fill \(entriesLabel) entries, one process | \(Int(Double(entries) / fillSeconds)) sets/s | | | |")
} else {
    print("| fill | (reused from an earlier --keep run) | | | |")
}
