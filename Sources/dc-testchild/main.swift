// A child process for the engine's multi-process and crash tests. Not a user tool.
//
//   dc-testchild incr DIR KEY N            N increments of KEY
//   dc-testchild set DIR PREFIX N          sets PREFIX0 … PREFIX(N-1) to their own names
//   dc-testchild writeloop DIR SEED        random self-checking writes until killed
//   dc-testchild verify DIR                reads every key; exit 1 if a value fails its check
//   dc-testchild forkhold DIR              forks a child that sleeps without touching the cache
//                                          (its pid on the first line), then holds the cache
//                                          in a transaction ("in transaction") until killed
//   dc-testchild hold DIR SECONDS          holds the cache's write lock (an open transaction)
//                                          for SECONDS after printing "holding", then exits
#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import DiskCache

let args = CommandLine.arguments
guard args.count >= 3 else {
    print("usage: dc-testchild incr|set|writeloop|verify DIR …")
    exit(2)
}

/// A value that proves its own integrity: 4-byte CRC32C of the rest, then the rest.
func checkedValue(_ payload: [UInt8]) -> [UInt8] {
    var crc = payload.withUnsafeBytes { dcs_crc32c(0, $0.baseAddress, $0.count) }
    return withUnsafeBytes(of: &crc) { Array($0) } + payload
}

func isIntact(_ v: [UInt8]) -> Bool {
    guard v.count >= 4 else { return false }
    let crc = v.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
    let rest = Array(v[4...])
    return rest.withUnsafeBytes { dcs_crc32c(0, $0.baseAddress, $0.count) } == crc
}

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

do {
    let dir = args[2]
    switch args[1] {
    case "incr":
        let cache = try DiskCache(directory: dir)
        let n = Int(args[4])!
        for _ in 0..<n { try cache.incr(.text(args[3])) }
    case "set":
        let cache = try DiskCache(directory: dir)
        for i in 0..<Int(args[4])! {
            let k = args[3] + String(i)
            try cache.set(.text(k), text: k)
        }
    case "writeloop":
        let cache = try DiskCache(directory: dir, sizeLimit: 1 << 22, minFileSize: 2048)
        var rng = SplitMix(state: UInt64(args[3])!)
        while true {
            let op = rng.next() % 100
            let key = StoredKey.text("k\(rng.next() % 300)")
            let size = op < 5 ? Int(rng.next() % 8000) : Int(rng.next() % 300)
            let payload = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            switch op {
            case 0..<60:
                try cache.set(key, bytes: checkedValue(payload))
            case 60..<75:
                try cache.delete(key)
            case 75..<85:
                try cache.transact {
                    for j in 0..<3 { try cache.set(.text("tx\(j)"), bytes: checkedValue(payload)) }
                }
            case 85..<95:
                try cache.incr(.text("counter"))
            case 95..<97:
                try cache.compact()
            default:
                _ = try cache.get(key)
            }
        }
    case "verify":
        let cache = try DiskCache(directory: dir)
        var bad = 0
        for k in try cache.keys() {
            guard let item = try cache.get(k) else { continue }
            if item.kind == .blob && !isIntact(item.value) { bad += 1 }
        }
        if bad > 0 {
            print("corrupt values: \(bad)")
            exit(1)
        }
    case "forkhold":
        let cache = try DiskCache(directory: dir)
        _ = try cache.get("x")
        let pid = fork()
        if pid == 0 {
            sleep(120)
            _exit(0)
        }
        print(pid)
        try cache.transact {
            try cache.set("x", int: 1)
            print("in transaction")
            fflush(nil)
            sleep(120)
        }
    case "hold":
        let cache = try DiskCache(directory: dir)
        try cache.transact {
            try cache.set("held", int: 1)
            print("holding")
            fflush(nil)
            usleep(UInt32(Double(args[3])! * 1_000_000))
        }
    default:
        print("unknown mode \(args[1])")
        exit(2)
    }
} catch {
    print("dc-testchild: \(error)")
    exit(3)
}
