#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import SystemPackage

/// Writer exclusion on a local disk: `flock` on the `control` file.
///
/// A forked child must not share the parent's lock (the description and its flock are
/// inherited): a `pthread_atfork` child handler (`dcs_lock_fd_register`, support.c) reopens
/// every registered descriptor under its number at the fork itself, so a child that never
/// touches the cache does not keep a dead parent's lock.
final class FileLock: WriterExclusion {
    let path: String
    private var fd: FileDescriptor

    init(path: String) throws {
        self.path = path
        do {
            fd = try FileDescriptor.open(FilePath(path), .readWrite, options: [.create, .closeOnExec], permissions: CreationMode.file)
        } catch let e as Errno {
            throw DiskCacheError.io("open control file", path, e)
        }
        if dcs_lock_fd_register(fd.rawValue, path) != 0 {
            try? fd.close()
            throw DiskCacheError.io("register control file", path, Errno.noMemory)
        }
    }

    func lock(timeout: Double?) throws {
        do {
            if try fd.tryFlock() { return }
            try Blocking.wait {
                guard let timeout else { return try fd.flock(LOCK_EX) }
                // flock has no timeout: poll. Holders keep the lock for microseconds, so
                // first yield the processor (the holder may be waiting for it), then sleep
                // with a backoff capped at 200 µs: longer sleeps showed up as 100+ µs p99
                // latencies with 4 processes on 2 cores.
                let deadline = wallClock() + timeout
                var attempts = 0
                var pause: UInt32 = 20
                while try !fd.tryFlock() {
                    if wallClock() >= deadline {
                        throw DiskCacheError(.timeout, "Timed out after \(timeout) s waiting for the lock on '\(path)'")
                    }
                    attempts += 1
                    if attempts < 64 {
                        sched_yield()
                    } else {
                        usleep(pause)
                        pause = min(pause * 2, 200)
                    }
                }
            }
        } catch let e as DiskCacheError {
            throw e
        } catch {
            throw DiskCacheError.io("lock", path, error)
        }
    }

    func tryLock() throws -> Bool {
        do { return try fd.tryFlock() } catch {
            throw DiskCacheError.io("lock", path, error)
        }
    }

    func unlock() {
        try? fd.flock(LOCK_UN)
    }

    func reopenAfterFork() throws {
        // The fork handler gave the child a description of its own, or /dev/null if it could
        // not reopen the file: open it again here all the same, at a point that can fail.
        let fresh: FileDescriptor
        do {
            fresh = try FileDescriptor.open(FilePath(path), .readWrite, options: [.closeOnExec])
        } catch let e as Errno {
            throw DiskCacheError.io("reopen control file after fork", path, e)
        }
        if dcs_lock_fd_register(fresh.rawValue, path) != 0 {
            try? fresh.close()
            throw DiskCacheError.io("register control file", path, Errno.noMemory)
        }
        dcs_lock_fd_unregister(fd.rawValue)
        try? fd.close()
        fd = fresh
    }

    func close() {
        dcs_lock_fd_unregister(fd.rawValue)
        try? fd.close()
    }
}
