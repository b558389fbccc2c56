// Engine benchmark: per-operation latency for 100-byte values beside the raw syscall costs
// measured in the same run on the same filesystem, and the cold open of a large cache.
//
//   swift run -c release diskcache-bench [--entries N] [--ops N] [--dir PATH] [--keep]
//
//   --entries N   size of the cache opened cold (default 1000000)
//   --ops N       timed operations per row (default 200000), after N/10 warm-up operations
//   --dir PATH    where to work (default /tmp/diskcache-bench); only its subdirectories
//                 raw/, ops/ and big/ are created and removed
//   --keep        leave ops/ and big/ behind, and reuse a big/ that an earlier --keep run left
//
// Every operation is timed on its own with clock_gettime (vDSO); the timer's own cost,
// measured the same way, is subtracted. Median and p99 are over those single-op samples, so
// p99 shows the real tail (table growth, compaction); mean is what a loop sustains. Keys are
// visited in a scattered order (the index is cold, as in real use), but each key is copied to
// a hot buffer before the clock starts, as a caller that just built its key has it.
//
// Concurrent readers: get throughput from 1, 2 and 8 threads sharing one cache (each thread
// reads scattered keys of 10 000 100-byte items for --seconds), with statistics off and on:
//   diskcache-bench --get-threads [--seconds S] [--dir PATH]
//
// Internal mode, used for the child-process open and handy under a profiler:
//   diskcache-bench --child-open DIR KEY   open DIR, get KEY; print ns, VmRSS before/after, VmHWM
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
    for line in String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.dropFirst(field.count + 1).filter { $0.isNumber }) ?? 0
    }
    return 0
}

/// Names in a directory, without `.` and `..`.
func listDirectory(_ path: String) -> [String] {
    guard let d = opendir(path) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafePointer(to: e.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// Removes a directory tree without following symlinks. Missing is fine.
func removeTree(_ path: String) {
    var st = stat()
    guard lstat(path, &st) == 0 else { return }
    if st.st_mode & S_IFMT == S_IFDIR {
        for name in listDirectory(path) { removeTree(path + "/" + name) }
        rmdir(path)
    } else {
        unlink(path)
    }
}

/// Total size of the regular files directly in `path`.
func directoryBytes(_ path: String) -> Int {
    listDirectory(path).reduce(0) { total, name in
        var st = stat()
        return total + (stat(path + "/" + name, &st) == 0 && st.st_mode & S_IFMT == S_IFREG ? Int(st.st_size) : 0)
    }
}

func shellQuote(_ s: String) -> String {
    "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
}

func fail(_ message: String) -> Never {
    let line = "diskcache-bench: \(message)\n"
    _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress!, $0.count - 1) }
    exit(1)
}

// MARK: Keys

/// Key bytes laid out once in a buffer that lives for the whole run, so a timed loop only picks
/// a prebuilt `KeyRef`.
struct KeySet {
    let refs: [KeyRef]
    let bytes: [[UInt8]]

    init(_ prefix: String, _ count: Int) {
        bytes = (0..<count).map { Array("\(prefix)\($0)".utf8) }
        let arena = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes.reduce(0) { $0 + $1.count }), alignment: 8)
        var at = 0
        var refs: [KeyRef] = []
        refs.reserveCapacity(count)
        for b in bytes {
            b.withUnsafeBytes { (arena + at).copyMemory(from: $0.baseAddress!, byteCount: b.count) }
            refs.append(KeyRef(kind: .text, bytes: UnsafeRawBufferPointer(start: arena + at, count: b.count)))
            at += b.count
        }
        self.refs = refs
    }
}

/// A fixed permutation of 0..<n (when n is not a multiple of the prime): visits keys in an order
/// unrelated to the log's, so reads do not ride on sequential locality.
@inline(__always)
func scattered(_ i: Int, _ n: Int) -> Int { n % 7919 == 0 ? i : (i &* 7919) % n }

// MARK: Measuring

struct Stats {
    var median: Double
    var p99: Double
    var mean: Double
    var max: Double
}

/// Median cost of one `nanos()` pair with nothing between.
func measureTimer() -> Double {
    var s = [UInt64](repeating: 0, count: 100_000)
    for i in s.indices {
        let t = nanos()
        s[i] = nanos() &- t
    }
    s.sort()
    return Double(s[s.count / 2])
}

/// Times `count` calls of `op`, each on its own, after `warmup` untimed calls of `warm(i)`.
/// `prepare(i)` runs before the clock starts: it builds the argument (a key copied to a hot
/// buffer, as a caller that just made its key has it), so its cache misses are not counted.
func measure<Arg>(_ count: Int, timer: Double, warmup: Int, warm: (Int) throws -> Void,
                  prepare: (Int) -> Arg, _ op: (Arg) throws -> Void) rethrows -> Stats {
    for i in 0..<warmup { try warm(i) }
    var samples = [UInt64](repeating: 0, count: count)
    try samples.withUnsafeMutableBufferPointer { s in
        for i in 0..<count {
            let arg = prepare(i)
            try withExtendedLifetime(arg) {
                let t = nanos()
                try op(arg)
                s[i] = nanos() &- t
            }
        }
    }
    let sum = samples.reduce(0, &+)
    samples.sort()
    func at(_ q: Double) -> Double { max(0, Double(samples[min(count - 1, Int(Double(count) * q))]) - timer) }
    return Stats(median: at(0.5), p99: at(0.99), mean: max(0, Double(sum) / Double(count) - timer), max: at(1))
}

/// A 256-byte buffer the key under test is copied into before each timed call.
struct HotKey {
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 64)

    func load(_ key: KeyRef) -> KeyRef {
        buffer.copyMemory(from: key.bytes.baseAddress!, byteCount: key.bytes.count)
        return KeyRef(kind: key.kind, bytes: UnsafeRawBufferPointer(start: buffer, count: key.bytes.count))
    }
}

func fmt(_ ns: Double) -> String {
    func fixed(_ v: Double, _ digits: Int) -> String {
        let scale = digits == 1 ? 10.0 : 100.0
        let s = String((v * scale).rounded() / scale)
        let have = s.split(separator: ".").last.map(\.count) ?? 0
        return s + String(repeating: "0", count: max(0, digits - have))
    }
    if ns < 1000 { return "\(Int(ns.rounded())) ns" }
    if ns < 1_000_000 { return fixed(ns / 1000, 2) + " µs" }
    return fixed(ns / 1_000_000, 1) + " ms"
}

func fmtMB(_ kb: Int) -> String { "\(Int((Double(kb) / 1024).rounded())) MB" }

func verdict(_ met: Bool, _ target: String) -> String {
    (met ? "met" : "**MISSED**") + " (≤ \(target))"
}

// MARK: Child mode: cold open in a fresh process

/// Opens `dir`, reads `key`, prints "ns rssBeforeKB rssAfterKB hwmKB".
func childOpen(_ dir: String, _ key: String) throws -> Never {
    let keyBytes = Array(key.utf8)
    let rssBefore = procStatusKB("VmRSS")
    let t = nanos()
    let cache = try DiskCache(directory: dir)
    let got = try keyBytes.withUnsafeBytes { try cache.withItem(KeyRef(kind: .text, bytes: $0)) { $0.value.count } }
    let elapsed = nanos() - t
    guard got != nil else { fail("key \(key) missing in \(dir)") }
    print(elapsed, rssBefore, procStatusKB("VmRSS"), procStatusKB("VmHWM"))
    withExtendedLifetime(cache) {}
    exit(0)
}

struct ChildRun {
    var openNs: Double
    var wallNs: Double
    var rssBeforeKB: Int
    var rssAfterKB: Int
    var hwmKB: Int
}

/// Runs this executable in `--child-open` mode; nil if that failed.
func spawnChildOpen(_ dir: String, _ key: String) -> ChildRun? {
    var path = [CChar](repeating: 0, count: 4096)
    let len = readlink("/proc/self/exe", &path, path.count - 1)
    guard len > 0 else { return nil }
    let exe = String(decoding: path[0..<len].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let cmd = [exe, "--child-open", dir, key].map(shellQuote).joined(separator: " ")
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

// MARK: The benchmark

struct Config {
    var entries = 1_000_000
    var ops = 200_000
    var base = "/tmp/diskcache-bench"
    var keep = false

    init(_ args: [String]) {
        let usage = "usage: diskcache-bench [--entries N ≥ 1] [--ops N ≥ 1000] [--dir PATH] [--keep]"
        var it = args.makeIterator()
        while let a = it.next() {
            switch a {
            case "--entries": entries = Int(it.next() ?? "") ?? -1
            case "--ops": ops = Int(it.next() ?? "") ?? -1
            case "--dir": base = it.next() ?? ""
            case "--keep": keep = true
            default: fail(usage)
            }
        }
        if entries < 1 || ops < 1000 || base.isEmpty { fail(usage) }
    }
}

func filesystemName(_ path: String) -> String {
    switch dcs_statfs_type(path) {
    case 0xEF53: return "ext4"
    case 0x0102_1994: return "tmpfs"
    case 0x5846_5342: return "xfs"
    case 0x9123_683E: return "btrfs"
    case 0x6573_5546: return "fuse"
    case let t: return "fs 0x" + String(t, radix: 16)
    }
}

/// Creates a cache of `entries` 100-byte values under "entry-<i>", or (`reuse`) takes the one an
/// earlier `--keep` run left. Returns the fill rate in sets per second (nil when reused).
func fillBig(_ dir: String, entries: Int, value: [UInt8], reuse: Bool) throws -> Double? {
    if reuse, let existing = try? DiskCache(directory: dir) {
        let last = try Array("entry-\(entries - 1)".utf8).withUnsafeBytes { try existing.contains(KeyRef(kind: .text, bytes: $0)) }
        let past = try Array("entry-\(entries)".utf8).withUnsafeBytes { try existing.contains(KeyRef(kind: .text, bytes: $0)) }
        if last && !past { return nil }
    }
    removeTree(dir)
    let big = try DiskCache(directory: dir)
    var key = [UInt8](repeating: 0, count: 32)
    let prefix = Array("entry-".utf8)
    let t = nanos()
    try value.withUnsafeBytes { v in
        for i in 0..<entries {
            // "entry-<i>" without String formatting in the loop.
            var digits = 1, x = i / 10
            while x > 0 { digits += 1; x /= 10 }
            for (j, c) in prefix.enumerated() { key[j] = c }
            x = i
            for d in stride(from: prefix.count + digits - 1, through: prefix.count, by: -1) { key[d] = UInt8(48 + x % 10); x /= 10 }
            try key.withUnsafeBytes {
                try big.set(KeyRef(kind: .text, bytes: UnsafeRawBufferPointer(rebasing: $0[0..<(prefix.count + digits)])), kind: .blob, value: v)
            }
        }
    }
    return Double(entries) / (Double(nanos() - t) / 1e9)
}

func runBenchmark(_ config: Config) throws {
    let n = config.ops
    let warmup = max(1000, n / 10)
    let base = config.base
    let rawDir = base + "/raw", opsDir = base + "/ops", bigDir = base + "/big"
    removeTree(rawDir)
    removeTree(opsDir)
    var prefix = base.hasPrefix("/") ? "" : "."
    for part in base.split(separator: "/") { prefix += "/" + part; mkdir(prefix, 0o755) }
    if mkdir(rawDir, 0o755) != 0 { fail("cannot create \(rawDir): errno \(errno)") }
    let timer = measureTimer()

    func time(_ body: (Int) throws -> Void) rethrows -> Stats {
        try measure(n, timer: timer, warmup: warmup, warm: body, prepare: { $0 }, body)
    }
    let hot = HotKey()
    /// Times `op` on keys `keys(i)` copied to the hot buffer; the warm-up runs the same way.
    func timeKeyed(_ keys: (Int) -> KeyRef, warm: ((Int) throws -> Void)? = nil, _ op: (KeyRef) throws -> Void) throws -> Stats {
        if let warm { return try measure(n, timer: timer, warmup: warmup, warm: warm, prepare: { hot.load(keys($0)) }, op) }
        return try measure(n, timer: timer, warmup: warmup, warm: { try op(hot.load(keys($0))) }, prepare: { hot.load(keys($0)) }, op)
    }

    // Raw syscalls on the same filesystem, page cache warm.
    let fd = open(rawDir + "/data", O_RDWR | O_CREAT | O_TRUNC, 0o644)
    let appendFD = open(rawDir + "/append", O_RDWR | O_CREAT | O_TRUNC, 0o644)
    if fd < 0 || appendFD < 0 { fail("cannot create files in \(rawDir): errno \(errno)") }
    let fileSize = 1 << 24
    // Written 4 KB at a time as a log grows: one large write gets large folios from ext4, and
    // a 128-byte overwrite of a large folio walks all its buffer heads (µs, not ns).
    var page = [UInt8](repeating: 1, count: 4096)
    for off in stride(from: 0, to: fileSize, by: 4096) { _ = pwrite(fd, &page, 4096, off_t(off)) }
    var buf = [UInt8](repeating: 2, count: 128)
    let rawPread = time { i in _ = pread(fd, &buf, 128, off_t(scattered(i, fileSize / 128 - 1) * 128)) }
    let rawPwrite = time { i in _ = pwrite(fd, &buf, 128, off_t(scattered(i, fileSize / 128 - 1) * 128)) }
    var appendEnd: off_t = 0
    let rawAppend = time { _ in _ = pwrite(appendFD, &buf, 128, appendEnd); appendEnd += 128 }
    let rawFlock = time { _ in _ = dcs_flock(fd, LOCK_EX); _ = dcs_flock(fd, LOCK_UN) }
    var st = stat()
    let rawFstat = time { _ in _ = fstat(fd, &st) }
    var ts = timespec()
    let rawRealtime = time { _ in _ = clock_gettime(CLOCK_REALTIME, &ts) }
    close(fd)
    close(appendFD)
    removeTree(rawDir)

    // Engine operations on a cache of n entries.
    let hitKeys = KeySet("key-", n)
    let missKeys = KeySet("absent-", n)
    let warmKeys = KeySet("warm-", warmup)
    let counterKeys = KeySet("counter-", 1000)
    let value = [UInt8](repeating: 7, count: 100)
    let cache = try DiskCache(directory: opsDir)
    var found = 0
    /// A loop that did not find what it should measured something else: stop.
    func expect(_ what: String, _ wanted: Int) {
        if found != wanted { fail("\(what): \(found) found, \(wanted) expected") }
        found = 0
    }
    let valueBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: value.count, alignment: 16)
    value.withUnsafeBytes { valueBuffer.copyMemory(from: $0) }
    let v = UnsafeRawBufferPointer(valueBuffer)
    let setInsert = try timeKeyed({ hitKeys.refs[$0] }, warm: { try cache.set(warmKeys.refs[$0], kind: .blob, value: v) }) {
        try cache.set($0, kind: .blob, value: v)
    }
    let setOverwrite = try timeKeyed({ hitKeys.refs[scattered($0, n)] }) { try cache.set($0, kind: .blob, value: v) }
    let getHit = try timeKeyed({ hitKeys.refs[scattered($0, n)] }) {
        if try cache.withItem($0, { $0.value.count }) == 100 { found += 1 }
    }
    expect("get hit", n + warmup)
    // A StoredKey made just before the call, as a caller that builds its key has it.
    let freshStoredKey = { (i: Int) in StoredKey(kind: .text, bytes: Array(hitKeys.bytes[scattered(i, n)][...])) }
    let getCopy = try measure(n, timer: timer, warmup: warmup, warm: { _ = try cache.get(freshStoredKey($0)) }, prepare: freshStoredKey) {
        if try cache.get($0)?.value.count == 100 { found += 1 }
    }
    expect("copying get", n)
    let getMiss = try timeKeyed({ missKeys.refs[scattered($0, n)] }) {
        if try cache.withItem($0, { $0.value.count }) != nil { found += 1 }
    }
    expect("get miss", 0)
    let contains = try timeKeyed({ hitKeys.refs[scattered($0, n)] }) {
        if try cache.contains($0) { found += 1 }
    }
    expect("contains", n + warmup)
    let incr = try timeKeyed({ counterKeys.refs[$0 % 1000] }) {
        if case .int? = try cache.incr($0, by: 1, initial: 0) { found += 1 }
    }
    expect("incr", n + warmup)
    let delete = try timeKeyed({ hitKeys.refs[scattered($0, n)] }, warm: { _ = try cache.delete(warmKeys.refs[$0]) }) {
        if try cache.delete($0) { found += 1 }
    }
    expect("delete", n)
    try cache.close()
    if !config.keep { removeTree(opsDir) }

    // Cold open of a large cache: in this process with a fresh DiskCache each time, then in
    // fresh processes (which also give a clean RSS figure: this one's heap holds the above).
    let entries = config.entries
    let fillRate = try fillBig(bigDir, entries: entries, value: value, reuse: config.keep)
    let logBytes = directoryBytes(bigDir)
    let probe = "entry-\(entries / 2)"
    func openAndGet() throws -> Double {
        let t = nanos()
        let c = try DiskCache(directory: bigDir)
        let got = try Array(probe.utf8).withUnsafeBytes { try c.withItem(KeyRef(kind: .text, bytes: $0)) { $0.value.count } }
        let elapsed = Double(nanos() - t)
        if got != 100 { fail("cold get of \(probe) found \(String(describing: got))") }
        return elapsed
    }
    // The first open after the fill is the one that finds no snapshot (or whatever the engine
    // keeps to open fast) and pays for building it; the later ones are the steady state.
    let firstOpen = try openAndGet()
    var inProcess: [Double] = []
    for _ in 0..<5 { inProcess.append(try openAndGet()) }
    inProcess.sort()
    var children: [ChildRun] = []
    for _ in 0..<3 { if let c = spawnChildOpen(bigDir, probe) { children.append(c) } }
    children.sort { $0.openNs < $1.openNs }
    if !config.keep { removeTree(bigDir) }

    // Report.
    print("diskcache-bench: \(n) timed ops per row after \(warmup) warm-up ops; 100-byte values, text keys \"key-<i>\" read in scattered order")
    print("directory \(base) (\(filesystemName(base))); timer cost \(Int(timer)) ns per sample, subtracted")
    print("")
    print("| operation | median | p99 | mean | max | engine ÷ raw floor (medians) | target (median) |")
    print("|---|---|---|---|---|---|---|")
    func row(_ name: String, _ s: Stats, floor: (ns: Double, name: String)? = nil, target: Double? = nil) {
        let vs = floor.map { "\((s.median / $0.ns * 10).rounded() / 10)× \($0.name)" } ?? ""
        let t = target.map { verdict(s.median <= $0, fmt($0)) } ?? ""
        print("| \(name) | \(fmt(s.median)) | \(fmt(s.p99)) | \(fmt(s.mean)) | \(fmt(s.max)) | \(vs) | \(t) |")
    }
    row("raw `pread` 128 B", rawPread)
    row("raw `pwrite` 128 B, in place", rawPwrite)
    row("raw `pwrite` 128 B, appending", rawAppend)
    row("raw `flock` lock+unlock", rawFlock)
    row("raw `fstat`", rawFstat)
    row("raw `clock_gettime(REALTIME)`", rawRealtime)
    /// The least a read can cost: one pread. The least a write can cost: lock, append, unlock.
    let readFloor = (ns: rawPread.median, name: "pread")
    let writeFloor = (ns: rawFlock.median + rawAppend.median, name: "(flock + append \(fmt(rawFlock.median + rawAppend.median)))")
    row("get hit, `withItem` reading `value.count`", getHit, floor: readFloor, target: 1000)
    row("get hit, copying `get` → `Item`", getCopy, floor: readFloor, target: 1000)
    row("get miss", getMiss, floor: readFloor, target: 1000)
    row("contains (hit)", contains, floor: readFloor)
    row("set, new key", setInsert, floor: writeFloor, target: 2500)
    row("set, overwrite", setOverwrite, floor: writeFloor, target: 2500)
    row("incr (1000 counters)", incr, floor: writeFloor)
    row("delete", delete, floor: writeFloor, target: 2500)

    let label = entries == 1_000_000 ? "1M" : "\(entries)"
    let note = entries == 1_000_000 ? "" : " (target is for 1M)"
    print("")
    print("| cold open, \(label) entries, log \(logBytes / 1_000_000) MB | median | min | max | target |")
    print("|---|---|---|---|---|")
    print("| first open + get after the fill, this process | \(fmt(firstOpen)) | | | |")
    let ipMedian = inProcess[inProcess.count / 2]
    print("| open + first get, this process, a fresh `DiskCache` each ×\(inProcess.count) | \(fmt(ipMedian)) | \(fmt(inProcess.first!)) | \(fmt(inProcess.last!)) | \(verdict(ipMedian <= 20e6, "20 ms"))\(note) |")
    if children.isEmpty {
        print("| open + first get, child process | failed | | | |")
    } else {
        let mid = children[children.count / 2]
        let walls = children.map(\.wallNs).sorted()
        let growthKB = mid.rssAfterKB - mid.rssBeforeKB
        print("| open + first get, child process ×\(children.count) | \(fmt(mid.openNs)) | \(fmt(children.first!.openNs)) | \(fmt(children.last!.openNs)) | \(verdict(mid.openNs <= 20e6, "20 ms"))\(note) |")
        print("| child wall time incl. exec, runtime start, exit | \(fmt(walls[walls.count / 2])) | \(fmt(walls.first!)) | \(fmt(walls.last!)) | |")
        print("| VmRSS growth in child, open + get (\(fmtMB(mid.rssBeforeKB)) → \(fmtMB(mid.rssAfterKB))) | \(fmtMB(growthKB)) | | | \(verdict(growthKB <= 120 * 1024, "120 MB"))\(note) |")
        print("| peak RSS (VmHWM) in child | \(fmtMB(mid.hwmKB)) | | | |")
    }
    print("| fill, one process | \(fillRate.map { "\(Int($0)) sets/s" } ?? "reused from a --keep run") | | | |")
}

/// Gets per second from `threads` threads, each reading scattered keys for `seconds`, and the
/// voluntary context switches per 1000 gets (a thread that finds a lock taken sleeps: on a
/// loaded machine the rate is noise, the switches show whether reads wait for each other).
func getThroughput(_ cache: DiskCache, keys: [[UInt8]], threads: Int, seconds: Double) -> (rate: Double, switchesPer1000: Double) {
    var before = rusage()
    getrusage(RUSAGE_SELF.rawValue, &before)
    final class Run: @unchecked Sendable {
        let cache: DiskCache
        let keys: [[UInt8]]
        let seconds: Double
        var counts: [Int]
        init(_ cache: DiskCache, _ keys: [[UInt8]], _ threads: Int, _ seconds: Double) {
            self.cache = cache
            self.keys = keys
            self.seconds = seconds
            counts = Array(repeating: 0, count: threads * 16)   // a cache line apart
        }
        func work(_ t: Int) {
            let end = nanos() + UInt64(seconds * 1e9)
            var n = 0, i = t * 7919
            while true {
                for _ in 0..<256 {
                    i = (i &+ 40503) % keys.count
                    _ = try! keys[i].withUnsafeBytes { try cache.withItem(KeyRef(kind: .text, bytes: $0)) { $0.value.count } }
                }
                n += 256
                if nanos() >= end { break }
            }
            counts[t * 16] = n
        }
    }
    let run = Run(cache, keys, threads, seconds)
    var ids: [pthread_t] = []
    for t in 0..<threads {
        let box = Unmanaged.passRetained(Box { run.work(t) }).toOpaque()
        var id = pthread_t()
        pthread_create(&id, nil, { p in
            let b = Unmanaged<Box>.fromOpaque(p!).takeRetainedValue()
            b.body()
            return nil
        }, box)
        ids.append(id)
    }
    for id in ids { pthread_join(id, nil) }
    var after = rusage()
    getrusage(RUSAGE_SELF.rawValue, &after)
    let gets = Double(run.counts.reduce(0, +))
    // Joining each thread is one switch of its own.
    let switches = Double(after.ru_nvcsw - before.ru_nvcsw - threads)
    return (gets / seconds, max(0, switches) / gets * 1000)
}

/// Two decimals.
func fmt2(_ x: Double) -> String {
    let v = Int((x * 100).rounded())
    return "\(v / 100).\(v % 100 < 10 ? "0" : "")\(v % 100)"
}

final class Box {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

func runGetThreads(_ args: ArraySlice<String>) throws {
    var seconds = 2.0
    var base = "/tmp/diskcache-bench"
    var it = args.makeIterator()
    while let a = it.next() {
        switch a {
        case "--seconds": seconds = Double(it.next() ?? "") ?? 0
        case "--dir": base = it.next() ?? ""
        default: fail("usage: diskcache-bench --get-threads [--seconds S] [--dir PATH]")
        }
    }
    let dir = base + "/threads"
    removeTree(dir)
    defer { removeTree(dir) }
    var prefix = base.hasPrefix("/") ? "" : "."
    for part in base.split(separator: "/") { prefix += "/" + part; mkdir(prefix, 0o755) }
    let keys = (0..<10_000).map { Array("key-\($0)".utf8) }
    let value = [UInt8](repeating: 7, count: 100)
    print("| get throughput (voluntary context switches per 1000 gets), \(Int(seconds)) s per cell, \(filesystemName(base)) | 1 thread | 2 threads | 8 threads |")
    print("|---|---|---|---|")
    for statistics in [false, true] {
        let cache = try DiskCache(directory: dir, statistics: statistics)
        for k in keys { try k.withUnsafeBytes { k in try value.withUnsafeBytes { try cache.set(KeyRef(kind: .text, bytes: k), kind: .blob, value: $0) } } }
        let rates = [1, 2, 8].map { getThroughput(cache, keys: keys, threads: $0, seconds: seconds) }
        print("| statistics \(statistics ? "on" : "off") | " + rates.map { "\(Int($0.rate / 1000)) k/s, \(fmt2($0.switchesPer1000)) csw/1k" }.joined(separator: " | ") + " |")
    }
}

let args = Array(CommandLine.arguments.dropFirst())
do {
    if args.first == "--get-threads" {
        try runGetThreads(args.dropFirst())
        exit(0)
    }
    if args.first == "--child-open" {
        guard args.count == 3 else { fail("--child-open DIR KEY") }
        try childOpen(args[1], args[2])
    }
    try runBenchmark(Config(args))
} catch {
    fail("\(error)")
}
