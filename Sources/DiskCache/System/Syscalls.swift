#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CDiskCacheSupport
import SystemPackage

// The syscalls swift-system lacks, in its style: one thin wrapper each, EINTR retried,
// failures as `Errno`. Logic lives elsewhere.

@inline(__always)
func retryingInterrupts<T: BinaryInteger>(_ body: () -> T) -> Result<T, Errno> {
    while true {
        let value = body()
        if value != -1 { return .success(value) }
        let err = Errno(rawValue: errno)
        if err != .interrupted { return .failure(err) }
    }
}

extension FileDescriptor {
    /// Flushes the file's data and metadata to stable storage.
    ///
    /// The corresponding C function is `fsync`.
    func sync() throws(Errno) {
        _ = try retryingInterrupts { Glibc.fsync(rawValue) }.get()
    }

    /// Flushes the file's data (and the metadata needed to read it) to stable storage.
    ///
    /// The corresponding C function is `fdatasync`.
    func syncData() throws(Errno) {
        _ = try retryingInterrupts { Glibc.fdatasync(rawValue) }.get()
    }

    /// Takes (`LOCK_EX`) or releases (`LOCK_UN`) a whole-file advisory lock; blocks while another
    /// open file description holds it.
    ///
    /// The corresponding C function is `flock`.
    func flock(_ operation: Int32) throws(Errno) {
        _ = try retryingInterrupts { dcs_flock(rawValue, operation) }.get()
    }

    /// Takes the exclusive `flock` if free; false if another open file description holds it.
    func tryFlock() throws(Errno) -> Bool {
        switch retryingInterrupts({ dcs_flock(rawValue, LOCK_EX | LOCK_NB) }) {
        case .success: return true
        case .failure(let e) where e == .wouldBlock: return false
        case .failure(let e): throw e
        }
    }

    /// The file's size in bytes.
    ///
    /// The corresponding C function is `fstat`.
    func fileSize() throws(Errno) -> Int64 {
        var st = Glibc.stat()
        _ = try retryingInterrupts { Glibc.fstat(rawValue, &st) }.get()
        return Int64(st.st_size)
    }

    /// Writes the whole buffer at `offset`, looping over short writes.
    func writeAll(at offset: Int64, _ buffer: UnsafeRawBufferPointer) throws(Errno) {
        var done = 0
        while done < buffer.count {
            let n = try retryingInterrupts {
                Glibc.pwrite(rawValue, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            }.get()
            if n == 0 { throw Errno.noSpace }
            done += n
        }
    }

    /// Reads up to `buffer.count` bytes at `offset`, looping over short reads; returns the count
    /// read, less than requested only at end of file.
    func readAll(at offset: Int64, _ buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        var done = 0
        while done < buffer.count {
            let n = try retryingInterrupts {
                Glibc.pread(rawValue, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            }.get()
            if n == 0 { break }
            done += n
        }
        return done
    }
}

/// The modes the cache creates files and directories with, as python-diskcache (and
/// SQLite) do: everything, less what the umask takes away. A group sharing a directory
/// (umask 002) can then share the cache: each writer's new segments and value directories
/// stay writable by the others.
enum CreationMode {
    static let file: FilePermissions = [.ownerReadWrite, .groupReadWrite, .otherReadWrite]
    static let directory: mode_t = 0o777
}

/// Path operations swift-system does not offer on Linux.
enum PathOps {
    /// The corresponding C function is `rename`.
    static func rename(_ from: String, _ to: String) throws(Errno) {
        _ = try retryingInterrupts { Glibc.rename(from, to) }.get()
    }

    /// The corresponding C function is `unlink`.
    static func unlink(_ path: String) throws(Errno) {
        _ = try retryingInterrupts { Glibc.unlink(path) }.get()
    }

    /// The corresponding C function is `rmdir`.
    static func rmdir(_ path: String) throws(Errno) {
        _ = try retryingInterrupts { Glibc.rmdir(path) }.get()
    }

    /// Creates a directory; `EEXIST` is reported as `Errno.fileExists`.
    ///
    /// The corresponding C function is `mkdir`.
    static func mkdir(_ path: String, mode: mode_t = CreationMode.directory) throws(Errno) {
        _ = try retryingInterrupts { Glibc.mkdir(path, mode) }.get()
    }

    /// Creates a directory and its missing parents, like `mkdir -p`.
    static func makeDirectories(_ path: String, mode: mode_t = CreationMode.directory) throws(Errno) {
        if isDirectory(path) { return }
        var prefix = ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += (prefix.isEmpty && !path.hasPrefix("/") ? "" : "/") + component
            do {
                try mkdir(prefix, mode: mode)
            } catch .fileExists {
                continue
            }
        }
        if !isDirectory(path) { throw Errno.notDirectory }
    }

    /// Whether `path` names a directory (following links).
    static func isDirectory(_ path: String) -> Bool {
        var size: Int64 = 0
        var dir: Int32 = 0
        return dcs_stat(path, &size, &dir) == 0 && dir != 0
    }

    /// Size of a file in bytes, or nil if it does not exist.
    static func fileSize(_ path: String) -> Int64? {
        var size: Int64 = 0
        var dir: Int32 = 0
        guard dcs_stat(path, &size, &dir) == 0 else { return nil }
        return size
    }

    /// The names in a directory, without `.` and `..`.
    ///
    /// The corresponding C functions are `opendir`, `readdir` and `closedir`.
    static func listDirectory(_ path: String) throws(Errno) -> [String] {
        guard let dir = Glibc.opendir(path) else { throw Errno(rawValue: errno) }
        defer { Glibc.closedir(dir) }
        var names: [String] = []
        while let entry = Glibc.readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The filesystem type magic of the filesystem holding `path`.
    ///
    /// The corresponding C function is `statfs`.
    static func filesystemType(_ path: String) throws(Errno) -> Int {
        Int(try retryingInterrupts { dcs_statfs_type(path) }.get())
    }
}

/// Wall-clock seconds since the epoch, as python-diskcache's `time.time()`.
@inline(__always)
func wallClock() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
