// `diskcache`: inspect and maintain a cache directory.
import ArgumentParser
import DiskCache
import Foundation

@main
struct DiskCacheTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diskcache",
        abstract: "Inspect and maintain a diskcache-swift cache directory.",
        subcommands: [Stats.self, Keys.self, Get.self, Check.self, Compact.self, Expire.self, Clear.self, Settings.self]
    )
}

struct DirectoryOption: ParsableArguments {
    @Argument(help: "The cache directory.")
    var directory: String

    func open() throws -> DiskCache {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError("'\(directory)' is not a cache directory")
        }
        return try DiskCache(directory: directory)
    }
}

func describe(_ key: StoredKey) -> String {
    switch key.kind {
    case .int: return String(key.int ?? 0)
    case .float: return String(Double(bitPattern: UInt64(littleEndian: key.bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })))
    case .text: return "'" + (key.text ?? "") + "'"
    case .blob: return "b'" + key.bytes.map { String(format: "\\x%02x", $0) }.joined() + "'"
    case .pickle: return "<pickled \(key.bytes.count) bytes>"
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Item count, volume, hit/miss statistics and log size.")
    @OptionGroup var dir: DirectoryOption

    func run() throws {
        let c = try dir.open()
        let (hits, misses) = try c.stats()
        print("directory: \(dir.directory)")
        print("items:     \(try c.count())")
        print("volume:    \(try c.volume()) bytes")
        print("hits:      \(hits)")
        print("misses:    \(misses)")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.directory)) ?? []
        for f in files.sorted() where f.hasPrefix("segment-") {
            let size = (try? FileManager.default.attributesOfItem(atPath: dir.directory + "/" + f)[.size] as? Int) ?? 0
            print("log:       \(f) \(size) bytes")
        }
    }
}

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List keys in insertion order.")
    @OptionGroup var dir: DirectoryOption
    @Flag(help: "Newest first.") var reverse = false
    @Option(help: "At most this many keys.") var limit: Int?

    func run() throws {
        let c = try dir.open()
        var keys = try c.keys(reverse: reverse)
        if let limit { keys = Array(keys.prefix(limit)) }
        for k in keys { print(describe(k)) }
    }
}

struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the item under a text key (use --int for integer keys).")
    @OptionGroup var dir: DirectoryOption
    @Argument(help: "The key.") var key: String
    @Flag(help: "The key is an integer.") var int = false

    func run() throws {
        let c = try dir.open()
        let k: StoredKey = int ? .int(Int64(key) ?? 0) : .text(key)
        guard let item = try c.get(k) else {
            print("(miss)")
            throw ExitCode(1)
        }
        print("kind:   \(item.kind)")
        if let e = item.expireTime { print("expires: \(Date(timeIntervalSince1970: e))") }
        if let t = item.tag { print("tag:    \(describe(t))") }
        switch item.kind {
        case .int: print("value:  \(item.int ?? 0)")
        case .text: print("value:  \(item.text ?? "")")
        default: print("value:  \(item.value.count) bytes")
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Verify every record and value file; --fix repairs.")
    @OptionGroup var dir: DirectoryOption
    @Flag(help: "Remove what cannot be read, unknown files and empty directories.") var fix = false

    func run() throws {
        let findings = try dir.open().check(fix: fix)
        for f in findings { print((f.fixed ? "fixed: " : "found: ") + f.message) }
        print(findings.isEmpty ? "clean" : "\(findings.count) finding(s)")
        if !findings.isEmpty && !fix { throw ExitCode(1) }
    }
}

struct Compact: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Rewrite the log without dead records.")
    @OptionGroup var dir: DirectoryOption
    func run() throws { try dir.open().compact(); print("compacted") }
}

struct Expire: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove expired items.")
    @OptionGroup var dir: DirectoryOption
    func run() throws { print("removed \(try dir.open().expire())") }
}

struct Clear: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove every item.")
    @OptionGroup var dir: DirectoryOption
    func run() throws { print("removed \(try dir.open().clear())") }
}

struct Settings: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show settings, or set one: NAME=VALUE.")
    @OptionGroup var dir: DirectoryOption
    @Argument(help: "NAME=VALUE to persist a setting.") var assignment: String?

    func run() throws {
        let c = try dir.open()
        if let assignment {
            let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("expected NAME=VALUE") }
            let value: SettingValue = Int64(parts[1]).map { .int($0) } ?? Double(parts[1]).map { .float($0) } ?? .text(parts[1])
            try c.updateSetting(parts[0], value)
        }
        for (k, v) in try c.allSettings().sorted(by: { $0.key < $1.key }) { print("\(k) = \(v)") }
    }
}
