#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import SystemPackage

/// Coordination on a local disk: `flock` on the control file for writers, and a page of that
/// file mapped shared for the published head and the statistics.
///
/// The head (segment id and end, full 64-bit words, and a checksum of both) is published
/// under a sequence counter: the writer makes it odd, writes the words, makes it even; a
/// reader retries while it is odd or changed under it. A reader whose counter matches the one
/// it last saw does one atomic load. A head that fails its checksum (a flipped bit, a writer
/// killed mid-update) is never acted on: the next lock holder settles the head from the log,
/// as when the control file is new.
final class LocalCoordinator: StatisticsCounters {
    static let fileName = "control"
    private static let pageSize = 4096
    private static let magic: UInt64 = 0x3230_4C52_5443_4344  // "DCCTRL02"

    private enum Slot: Int {
        case magic = 0, sequence = 1, segment = 2, end = 3, check = 4, hits = 5, misses = 6, writing = 7
    }

    let path: String
    private var fd: FileDescriptor
    private let page: UnsafeMutableRawPointer
    private(set) var isFresh = false
    /// The last intact head read, and the sequence number it was read at.
    private var seenSequence = UInt64.max
    private var seenHead = LogHead(segment: 0, end: 0)

    init(directory: String) throws {
        path = directory + "/" + LocalCoordinator.fileName
        do {
            fd = try FileDescriptor.open(FilePath(path), .readWrite, options: [.create, .closeOnExec], permissions: CreationMode.file)
        } catch let e as Errno {
            throw DiskCacheError.io("open control file", path, e)
        }
        // A forked child gets its own description of it at the fork (see support.c).
        if dcs_lock_fd_register(fd.rawValue, path) != 0 {
            try? fd.close()
            throw DiskCacheError.io("register control file", path, Errno.noMemory)
        }
        do {
            let file = fd
            if try file.fileSize() < LocalCoordinator.pageSize {
                // Growing under the lock so two openers do not both initialise.
                try file.flock(LOCK_EX)
                defer { try? file.flock(LOCK_UN) }
                if try file.fileSize() < LocalCoordinator.pageSize {
                    _ = try file.resize(to: Int64(LocalCoordinator.pageSize))
                }
            }
            // Mapped through a description of its own: a mapping holds its description, and
            // with it any flock on it, for as long as it exists, and a forked child inherits
            // the mapping. Mapped from the locking descriptor, a child that never touches the
            // cache kept a dead parent's lock.
            let mapping = try FileDescriptor.open(FilePath(path), .readWrite, options: [.closeOnExec])
            defer { try? mapping.close() }
            page = try MemoryMap.file(mapping, length: LocalCoordinator.pageSize, .readWriteShared)
        } catch let e as Errno {
            dcs_lock_fd_unregister(fd.rawValue)
            try? fd.close()
            throw DiskCacheError.io("map control file", path, e)
        }
    }

    @inline(__always)
    private func word(_ slot: Slot) -> UnsafeMutablePointer<UInt64> {
        page.assumingMemoryBound(to: UInt64.self) + slot.rawValue
    }

    func lockExclusive(timeout: Double?) throws {
        do {
            if try !fd.tryFlock() {
                try Blocking.wait {
                    guard let timeout else { return try fd.flock(LOCK_EX) }
                    // flock has no timeout: poll. Holders keep the lock for microseconds, so
                    // first yield the processor (the holder may be waiting for it), then
                    // sleep with a backoff capped at 200 µs: longer sleeps showed up as
                    // 100+ µs p99 latencies with 4 processes on 2 cores.
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
            }
        } catch let e as DiskCacheError {
            throw e
        } catch {
            throw DiskCacheError.io("lock", path, error)
        }
        isFresh = dcs_load_acquire(word(.magic)) != LocalCoordinator.magic || readHead() == nil
    }

    func unlockExclusive() {
        try? fd.flock(LOCK_UN)
    }

    @inline(__always)
    func publishedHead() -> LogHead {
        if dcs_load_acquire(word(.sequence)) == seenSequence { return seenHead }
        return readHead() ?? seenHead
    }

    private static func check(_ segment: UInt64, _ end: UInt64) -> UInt64 {
        var words = (magic.littleEndian, segment.littleEndian, end.littleEndian)
        return UInt64(withUnsafeBytes(of: &words) { dcs_crc32c(0, $0.baseAddress!, 24) })
    }

    /// The published head, if it is intact: nil when it fails its checksum or stays odd (its
    /// publisher died mid-update).
    private func readHead() -> LogHead? {
        for attempt in 0..<10_000 {
            let sequence = dcs_load_acquire(word(.sequence))
            if sequence & 1 != 0 {
                if attempt >= 100 { sched_yield() }
                continue
            }
            let segment = dcs_load_relaxed(word(.segment))
            let end = dcs_load_relaxed(word(.end))
            let check = dcs_load_relaxed(word(.check))
            dcs_fence_acquire()
            guard dcs_load_relaxed(word(.sequence)) == sequence else { continue }
            guard check == LocalCoordinator.check(segment, end), let end = Int64(exactly: end) else { return nil }
            seenSequence = sequence
            seenHead = LogHead(segment: segment, end: end)
            return seenHead
        }
        return nil
    }

    func publish(_ head: LogHead) {
        let sequence = dcs_load_relaxed(word(.sequence))
        let odd = sequence | 1 == sequence ? sequence &+ 2 : sequence &+ 1
        dcs_store_relaxed(word(.sequence), odd)
        dcs_fence_release()
        dcs_store_relaxed(word(.segment), head.segment)
        dcs_store_relaxed(word(.end), UInt64(head.end))
        dcs_store_relaxed(word(.check), LocalCoordinator.check(head.segment, UInt64(head.end)))
        dcs_store_release(word(.sequence), odd &+ 1)
        seenSequence = odd &+ 1
        seenHead = head
        if isFresh {
            dcs_store_release(word(.magic), LocalCoordinator.magic)
            isFresh = false
        }
    }

    func setWriting(_ writing: Bool) {
        dcs_store_release(word(.writing), writing ? 1 : 0)
    }

    var isWriting: Bool { dcs_load_acquire(word(.writing)) != 0 }

    func add(hits: Int, misses: Int) {
        if hits != 0 { _ = dcs_fetch_add(word(.hits), UInt64(hits)) }
        if misses != 0 { _ = dcs_fetch_add(word(.misses), UInt64(misses)) }
    }

    func read() -> (hits: Int64, misses: Int64) {
        (Int64(bitPattern: dcs_load_acquire(word(.hits))), Int64(bitPattern: dcs_load_acquire(word(.misses))))
    }

    func reset() {
        _ = dcs_exchange(word(.hits), 0)
        _ = dcs_exchange(word(.misses), 0)
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
        MemoryMap.unmap(page, length: LocalCoordinator.pageSize)
        dcs_lock_fd_unregister(fd.rawValue)
        try? fd.close()
    }
}
