#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import SystemPackage

/// Large values in files of their own, named relative to the cache directory
/// (`ab/cd/<28 hex>.val`, python-diskcache's layout), written privately and published with
/// `rename` so a reader never sees a partial file.
enum ValueFiles {
    static func randomName() -> String {
        var g = SystemRandomNumberGenerator()
        let hex = Array("0123456789abcdef".utf8)
        var chars = [UInt8]()
        chars.reserveCapacity(32)
        for _ in 0..<32 { chars.append(hex[Int(g.next() & 15)]) }
        let s = String(decoding: chars, as: UTF8.self)
        let a = s.prefix(2), b = s.dropFirst(2).prefix(2), rest = s.dropFirst(4)
        return "\(a)/\(b)/\(rest).val"
    }

    /// Writes a new value file from chunks supplied by `next` (which fills the buffer and
    /// returns the count, 0 at the end). Returns its name, size and checksum.
    static func write(directory: String, sync: Bool, _ next: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> ExternalValue {
        try writeNew(directory: directory, sync: sync) { fd in
            var size: Int64 = 0
            var crc: UInt32 = 0
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = try buffer.withUnsafeMutableBytes { try next($0) }
                if n == 0 { break }
                try buffer.withUnsafeBytes { b in
                    let chunk = UnsafeRawBufferPointer(rebasing: b[0..<n])
                    crc = dcs_crc32c(crc, chunk.baseAddress!, n)
                    try fd.writeAll(at: size, chunk)
                }
                size += Int64(n)
            }
            return (size, crc)
        }
    }

    /// Writes a value held in memory. Other threads of the host may run meanwhile (the
    /// buffer is the caller's and stays valid).
    static func write(directory: String, sync: Bool, bytes: UnsafeRawBufferPointer) throws -> ExternalValue {
        try Blocking.wait {
            // Straight from the caller's buffer: no chunk buffer to allocate and fill.
            try writeNew(directory: directory, sync: sync) { fd in
                if bytes.count > 0 { try fd.writeAll(at: 0, bytes) }
                return (Int64(bytes.count), bytes.count == 0 ? 0 : dcs_crc32c(0, bytes.baseAddress!, bytes.count))
            }
        }
    }

    /// Writes a value file through `fill` (returning size and checksum), durable if asked, and
    /// publishes it (`AtomicFile`: under a temporary name in its directory, which keeps the
    /// directory non-empty while others may remove empty ones; the two directory levels are
    /// made again if they vanish before the file is created). On failure nothing is left, and
    /// directories only it needed are removed.
    private static func writeNew(directory: String, sync: Bool, _ fill: (FileDescriptor) throws -> (Int64, UInt32)) throws -> ExternalValue {
        let name = randomName()
        let path = directory + "/" + name
        let parent = String(path[..<path.lastIndex(of: "/")!])
        let grandparent = String(parent[..<parent.lastIndex(of: "/")!])
        var size: Int64 = 0, crc: UInt32 = 0
        do {
            try AtomicFile.publish(path, sync: sync, unnamed: false, parents: [grandparent, parent]) { fd in
                (size, crc) = try fill(fd)
            }
        } catch {
            remove(directory: directory, name: name)
            throw error
        }
        return ExternalValue(size: size, crc: crc, name: name)
    }

    /// Takes over a file someone else wrote in the cache directory: its size and checksum
    /// are recorded so later reads can verify it.
    static func adopt(directory: String, name: String) throws -> ExternalValue {
        guard !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
            throw DiskCacheError(.invalidArgument, "Value file name '\(name)' must be relative to the cache directory")
        }
        let path = directory + "/" + name
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) } catch {
            throw DiskCacheError.io("open value file", path, error)
        }
        defer { try? fd.close() }
        var crc: UInt32 = 0
        var size: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n: Int
            do { n = try buffer.withUnsafeMutableBytes { try fd.readAll(at: size, $0) } } catch {
                throw DiskCacheError.io("read value file", path, error)
            }
            if n == 0 { break }
            crc = buffer.withUnsafeBytes { dcs_crc32c(crc, $0.baseAddress!, n) }
            size += Int64(n)
        }
        return ExternalValue(size: size, crc: crc, name: name)
    }

    /// Reads a whole value file, verifying size and checksum; nil if missing or damaged.
    static func read(directory: String, _ ext: ExternalValue, into buffer: inout [UInt8]) -> Bool {
        Blocking.wait { readFile(directory: directory, ext, into: &buffer) }
    }

    private static func readFile(directory: String, _ ext: ExternalValue, into buffer: inout [UInt8]) -> Bool {
        guard ext.size >= 0 else { return false }
        let size = Int(ext.size)
        let path = directory + "/" + ext.name
        guard let fd = try? FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) else { return false }
        defer { try? fd.close() }
        // The file must have the recorded size before a buffer that large is allocated: a
        // damaged record may claim any size.
        guard let actual = try? fd.fileSize(), actual == ext.size else { return false }
        if buffer.count < size { buffer = [UInt8](unsafeUninitializedCapacity: size) { _, n in n = size } }
        return buffer.withUnsafeMutableBytes { b in
            readVerified(fd, size: size, crc: ext.crc, into: UnsafeMutableRawBufferPointer(rebasing: b[0..<size]))
        }
    }

    /// Reads a value file of known size and checksum into the caller's buffer.
    static func read(path: String, size: Int, crc: UInt32, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        Blocking.wait { readVerified(path: path, size: size, crc: crc, into: buffer) }
    }

    private static func readVerified(path: String, size: Int, crc: UInt32, into target: UnsafeMutableRawBufferPointer) -> Bool {
        guard let fd = try? FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) else { return false }
        defer { try? fd.close() }
        return readVerified(fd, size: size, crc: crc, into: target)
    }

    /// Reads `size` bytes from the start of the file and checks their checksum.
    private static func readVerified(_ fd: FileDescriptor, size: Int, crc: UInt32, into target: UnsafeMutableRawBufferPointer) -> Bool {
        guard target.count == size, let n = try? fd.readAll(at: 0, target), n == size else { return false }
        return size == 0 || dcs_crc32c(0, target.baseAddress!, size) == crc
    }

    /// Removes a value file and the directories it leaves empty (python-diskcache's rule).
    static func remove(directory: String, name: String) {
        let path = directory + "/" + name
        try? PathOps.unlink(path)
        var parent = Substring(name)
        for _ in 0..<2 {
            guard let slash = parent.lastIndex(of: "/") else { break }
            parent = parent[..<slash]
            if (try? PathOps.rmdir(directory + "/" + parent)) == nil { break }
        }
    }
}
