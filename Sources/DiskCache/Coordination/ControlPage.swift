#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import SystemPackage

/// The shared page of the `control` file (local mode): the published head, the "writing"
/// flag and the statistics counters, mapped by every process that opens the cache.
///
/// The head (segment id and end, full 64-bit words, and a checksum of both) is published
/// under a sequence counter: the writer makes it odd, writes the words, makes it even; a
/// reader retries while it is odd or changed under it. A reader whose counter matches the one
/// it last saw does one atomic load. A head that fails its checksum (a flipped bit, a writer
/// killed mid-update) is never acted on: the next lock holder settles the head from the log,
/// as when the control file is new.
final class ControlPage: StatisticsCounters {
    static let fileName = "control"
    private static let pageSize = 4096
    private static let magic: UInt64 = 0x3230_4C52_5443_4344  // "DCCTRL02"

    private enum Slot: Int {
        case magic = 0, sequence = 1, segment = 2, end = 3, check = 4, hits = 5, misses = 6, writing = 7
    }

    let path: String
    private let page: UnsafeMutableRawPointer
    /// The last intact head read, and the sequence number it was read at.
    private var seenSequence = UInt64.max
    private var seenHead = LogHead(segment: 0, end: 0)

    /// Maps the page of the control file at `path`; `lock` (on the same file) serialises
    /// its first initialisation.
    init(path: String, lock: FileLock) throws {
        self.path = path
        do {
            // Mapped through a description of its own: a mapping holds its description, and
            // with it any flock on it, for as long as it exists, and a forked child inherits
            // the mapping. Mapped from the locking descriptor, a child that never touches the
            // cache kept a dead parent's lock.
            let file = try FileDescriptor.open(FilePath(path), .readWrite, options: [.closeOnExec])
            defer { try? file.close() }
            if try file.fileSize() < ControlPage.pageSize {
                // Grown under the lock so two openers do not both initialise.
                try lock.lock(timeout: nil)
                defer { lock.unlock() }
                if try file.fileSize() < ControlPage.pageSize {
                    _ = try file.resize(to: Int64(ControlPage.pageSize))
                }
            }
            page = try MemoryMap.file(file, length: ControlPage.pageSize, .readWriteShared)
        } catch {
            throw DiskCacheError.io("map control file", path, error)
        }
    }

    /// Maps the page of an existing control file for reading only (a read-only open). The
    /// page is never written through this mapping: `publish`, `setWriting` and the counters
    /// are not called on it.
    init(readingOnly path: String) throws {
        self.path = path
        do {
            let file = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
            defer { try? file.close() }
            guard try file.fileSize() >= ControlPage.pageSize else {
                throw DiskCacheError(.readOnly, "Cannot open the cache at '\(path)' read-only: its control file is not set up yet; open it writable once")
            }
            page = try MemoryMap.file(file, length: ControlPage.pageSize, .readOnlyShared)
        } catch let e as Errno where e == .noSuchFileOrDirectory {
            throw DiskCacheError(.readOnly, "Cannot open '\(path)' read-only: the directory holds no cache yet (no control file); open it writable once to create it", errno: .noSuchFileOrDirectory)
        } catch {
            throw DiskCacheError.io("map control file", path, error)
        }
    }

    /// Whether the page holds an intact head (false: new, or damaged). Caller holds the lock.
    var isIntact: Bool {
        dcs_load_acquire(word(.magic)) == ControlPage.magic && readHead() != nil
    }

    @inline(__always)
    private func word(_ slot: Slot) -> UnsafeMutablePointer<UInt64> {
        page.assumingMemoryBound(to: UInt64.self) + slot.rawValue
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
            guard check == ControlPage.check(segment, end), let end = Int64(exactly: end) else { return nil }
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
        dcs_store_relaxed(word(.check), ControlPage.check(head.segment, UInt64(head.end)))
        dcs_store_release(word(.sequence), odd &+ 1)
        seenSequence = odd &+ 1
        seenHead = head
        if dcs_load_acquire(word(.magic)) != ControlPage.magic { dcs_store_release(word(.magic), ControlPage.magic) }
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

    func close() {
        MemoryMap.unmap(page, length: ControlPage.pageSize)
    }
}
