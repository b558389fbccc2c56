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
    /// With `sync` the data and then the directory entry are made durable. `unnamed: false`
    /// skips `O_TMPFILE` (network filesystems, where it is a round trip that fails; and where
    /// the directory must stay non-empty while the file is written). `network: true` retries
    /// the transient failures of network clients (EIO, EBUSY) on create and rename. A failed
    /// rename is reported with its errno (`EISDIR`: a directory took the name, as the network
    /// log's fence does).
    ///
    /// `parents` are directories (outermost first) to make when the file's directory is
    /// missing: others may remove them when they leave them empty (value directories, on a
    /// share too), so they can vanish between being made and the file being created in them.
    /// The create is tried first and, on ENOENT, they are made and the create tried again, a
    /// bounded number of times with a random, growing pause (a remover that runs in step would
    /// otherwise win every time).
    static func publish(_ path: String, sync: Bool, unnamed: Bool = true, network: Bool = false, parents: [String] = [], _ fill: (FileDescriptor) throws -> Void) throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        // Private to this process on this host (a pid is not: several hosts share the name space).
        var g = SystemRandomNumberGenerator()
        let temp = path + "." + String(getpid()) + "-" + String(g.next() & 0xFFFF_FFFF, radix: 16) + temporarySuffix
        let anonymous = unnamed ? openUnnamed(in: directory) : nil
        let fd: FileDescriptor
        if let anonymous {
            fd = anonymous
        } else {
            fd = try create(temp, parents: parents, network: network)
        }
        do {
            defer { try? fd.close() }
            try fill(fd)
            if sync { try Blocking.wait { try fd.syncData() } }
            if anonymous != nil {
                let r = linkat(AT_FDCWD, "/proc/self/fd/\(fd.rawValue)", AT_FDCWD, temp, AT_SYMLINK_FOLLOW)
                if r != 0 { throw Errno(rawValue: errno) }
            }
        } catch {
            if anonymous == nil { try? PathOps.unlink(temp) }
            // A failure of `fill`'s own source (not of the file) is passed on as it is.
            guard error is Errno || error is DiskCacheError else { throw error }
            throw DiskCacheError.io("write", temp, error)
        }
        do {
            if network {
                try retryingTransient { () throws(Errno) in try PathOps.rename(temp, path) }
            } else {
                try PathOps.rename(temp, path)
            }
        } catch {
            try? PathOps.unlink(temp)
            throw DiskCacheError.io("publish", path, error)
        }
        if sync { syncDirectory(directory) }
    }

    /// How often a create is retried when its directories keep vanishing (the pauses add up
    /// to at most ~150 ms). 20 was too few on a loaded 2-core machine against a thread that
    /// removes empty directories in a tight loop (EngineDefectTests lost 1 write in 500).
    static let createAttempts = 64

    private static func create(_ temp: String, parents: [String], network: Bool) throws -> FileDescriptor {
        // Prepared once: the less time between making a directory and creating the file in
        // it, the smaller the window for a remover.
        let path = FilePath(temp)
        var attempt = 0
        var transient = 0
        while true {
            let failure: Errno
            do {
                return try FileDescriptor.open(path, .readWrite, options: [.create, .exclusiveCreate, .closeOnExec], permissions: CreationMode.file)
            } catch {
                failure = error as? Errno ?? .ioError
            }
            switch failure {
            case .noSuchFileOrDirectory where !parents.isEmpty && attempt < createAttempts:
                if attempt > 0 { _ = Blocking.wait { usleep(UInt32.random(in: 0...(20 << min(attempt, 7)))) } }
                attempt += 1
                for dir in parents {
                    do { try PathOps.mkdir(dir) } catch .fileExists {
                        continue
                    } catch .noSuchFileOrDirectory {
                        break  // the level above vanished meanwhile: start over
                    } catch {
                        throw DiskCacheError.io("create directory", dir, error)
                    }
                }
            case .ioError where network && transient < 5, .resourceBusy where network && transient < 5,
                 .resourceTemporarilyUnavailable where network && transient < 5:
                // Network clients fail transiently (SMB: EIO, EBUSY).
                _ = Blocking.wait { usleep(1000 << UInt32(transient)) }
                transient += 1
            default:
                throw DiskCacheError.io("create", temp, failure)
            }
        }
    }

    /// Writes `bytes` as the whole of `path` (see `publish`).
    static func publish(_ path: String, bytes: [UInt8], sync: Bool, unnamed: Bool = true, network: Bool = false) throws {
        try publish(path, sync: sync, unnamed: unnamed, network: network) { fd in try bytes.withUnsafeBytes { try fd.writeAll(at: 0, $0) } }
    }

    /// A new file without a name in `directory`, or nil where the filesystem cannot (FUSE,
    /// network filesystems, old kernels).
    private static func openUnnamed(in directory: String) -> FileDescriptor? {
        // Linux's O_TMPFILE (__O_TMPFILE | O_DIRECTORY); Glibc's macro does not import.
        let tmpfile: Int32 = 0o20_000_000 | O_DIRECTORY
        let fd = open(directory, tmpfile | O_RDWR | O_CLOEXEC, mode_t(0o666))
        return fd >= 0 ? FileDescriptor(rawValue: fd) : nil
    }

    /// Makes a directory's entries durable (after a rename into it).
    static func syncDirectory(_ directory: String) {
        guard let fd = try? FileDescriptor.open(FilePath(directory), .readOnly, options: [.directory, .closeOnExec]) else { return }
        _ = try? fd.sync()
        try? fd.close()
    }

    /// The process that wrote a temporary name, if the name is one.
    static func writer(ofTemporary name: String) -> Int32? {
        guard name.hasSuffix(temporarySuffix) else { return nil }
        let stem = name.dropLast(temporarySuffix.count)
        guard let dot = stem.lastIndex(of: ".") else { return nil }
        let tail = stem[stem.index(after: dot)...]
        return Int32(tail.split(separator: "-", maxSplits: 1).first ?? "")
    }

    /// Removes temporary files in `names` (of `directory`) whose writer is no longer alive on
    /// this host.
    static func removeStaleTemporaries(directory: String, names: [String]) {
        for name in names {
            guard let pid = writer(ofTemporary: name), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? PathOps.unlink(directory + "/" + name) }
        }
    }
}
