import Foundation
import Testing
import CDiskCacheSupport
@testable import DiskCache

/// A fresh directory under the system temp folder.
func makeTempDirectory(_ name: String = "dc") -> String {
    var template = Array((NSTemporaryDirectory() + "/\(name)-XXXXXX").utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(cString: p!)
}

func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// The test helper executable built beside the test bundle.
var childExecutable: String {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return exe.deletingLastPathComponent().appendingPathComponent("dc-testchild").path
}

/// Runs the child helper and returns its process (already started).
func startChild(_ args: [String]) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: childExecutable)
    p.arguments = args
    try p.run()
    return p
}

func runChild(_ args: [String]) throws -> Int32 {
    let p = try startChild(args)
    p.waitUntilExit()
    return p.terminationStatus
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

extension DiskCache {
    /// Local mode: how far the snapshot this process knows of reaches (0: none).
    var snapshotEnd: Int64 { (log as? LocalLog)?.snapshotEnd ?? 0 }
    /// Local mode: the open segment.
    var segment: SegmentFile? { (log as? LocalLog)?.segment }
    /// Network mode: the batch log.
    var net: NetworkLog? { log as? NetworkLog }
}

/// Starts `dc-testchild hold DIR SECONDS` and returns once the child holds the cache's write
/// lock.
func startLockHolder(_ dir: String, seconds: Double) throws -> Process {
    let out = Pipe()
    let p = Process()
    p.executableURL = URL(fileURLWithPath: childExecutable)
    p.arguments = ["hold", dir, String(seconds)]
    p.standardOutput = out
    try p.run()
    var text = ""
    while !text.contains("holding\n") {
        let chunk = out.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        text += String(decoding: chunk, as: UTF8.self)
    }
    precondition(text.contains("holding"), "lock holder failed: \(text)")
    return p
}
