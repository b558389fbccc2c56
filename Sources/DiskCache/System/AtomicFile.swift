#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// Publishing a complete file under its final name in one step: readers see the old file or
/// the whole new one, never a part.
///
/// The content is written to a file with no name (`O_TMPFILE`) where the filesystem has it,
/// else to a private temporary name (`<name>.<pid>.tmp`); it is synced when asked, linked
/// under the temporary name and renamed over the final name. With `O_TMPFILE` a process
/// killed while writing leaves nothing behind; the temporary name exists only between the
/// link and the rename. `removeStaleTemporaries` sweeps what dead processes left.
enum AtomicFile {
    static let temporarySuffix = ".tmp"

    /// Writes `path` through `fill` (which writes at offsets of its choice) and publishes it.
    /// With `sync` the data and then the directory entry are made durable.
    static func publish(_ path: String, sync: Bool, _ fill: (FileDescriptor) throws -> Void) throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let temp = path + "." + String(getpid()) + temporarySuffix
        let unnamed = openUnnamed(in: directory)
        let fd: FileDescriptor
        if let unnamed {
            fd = unnamed
        } else {
            do {
                fd = try FileDescriptor.open(FilePath(temp), .readWrite, options: [.create, .truncate, .closeOnExec], permissions: CreationMode.file)
            } catch {
                throw DiskCacheError.io("create", temp, error)
            }
        }
        do {
            defer { try? fd.close() }
            try fill(fd)
            if sync { try fd.syncData() }
            if unnamed != nil {
                try? PathOps.unlink(temp)
                let r = linkat(AT_FDCWD, "/proc/self/fd/\(fd.rawValue)", AT_FDCWD, temp, AT_SYMLINK_FOLLOW)
                if r != 0 { throw Errno(rawValue: errno) }
            }
        } catch {
            if unnamed == nil { try? PathOps.unlink(temp) }
            throw DiskCacheError.io("write", temp, error)
        }
        do { try PathOps.rename(temp, path) } catch {
            try? PathOps.unlink(temp)
            throw DiskCacheError.io("publish", path, error)
        }
        if sync { syncDirectory(directory) }
    }

    /// A new file without a name in `directory`, or nil where the filesystem cannot (FUSE,
    /// network filesystems, old kernels).
    private static func openUnnamed(in directory: String) -> FileDescriptor? {
        // Linux's O_TMPFILE (__O_TMPFILE | O_DIRECTORY); Glibc's macro does not import.
        let tmpfile: Int32 = 0o20_000_000 | O_DIRECTORY
        let fd = open(directory, tmpfile | O_RDWR | O_CLOEXEC, 0o666)
        return fd >= 0 ? FileDescriptor(rawValue: fd) : nil
    }

    /// Makes a directory's entries durable (after a rename into it).
    static func syncDirectory(_ directory: String) {
        guard let fd = try? FileDescriptor.open(FilePath(directory), .readOnly, options: [.directory, .closeOnExec]) else { return }
        _ = try? fd.sync()
        try? fd.close()
    }

    /// Removes temporary files in `names` (of `directory`) whose writer is no longer alive on
    /// this host.
    static func removeStaleTemporaries(directory: String, names: [String]) {
        for name in names where name.hasSuffix(temporarySuffix) {
            let stem = name.dropLast(temporarySuffix.count)
            guard let dot = stem.lastIndex(of: "."), let pid = Int32(stem[stem.index(after: dot)...]), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? PathOps.unlink(directory + "/" + name) }
        }
    }
}
