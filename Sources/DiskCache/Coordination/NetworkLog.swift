#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import SystemPackage

/// Coordination and log storage for a cache directory on a network filesystem (NFS, SMB,
/// SFTP, ...), built only from what held across two client mounts of one share (DESIGN.md,
/// "Network filesystems"): `mkdir` is exclusive, `rename` publishes a complete file, and a
/// file under a new, predictable name is seen by other hosts as soon as it exists; byte-range
/// locks, shared memory, appends and reopening a file that grew are not to be trusted.
///
/// So the log is a sequence of immutable batch files `b-<N>.dcb`, N = 1, 2, 3 ..., one per
/// committed write, each a header plus the same records the local segment holds:
///
/// - To write batch N a process claims N with `mkdir b-<N>.claim` (exclusive; never reused,
///   so no client's cached "it exists" can delay a successor), applies its operation on the
///   state through N-1, writes the batch to a private name and renames it to `b-<N>.dcb`.
///   A claim that stays unpublished for `lease` seconds of the waiter's own clock is
///   abandoned with `mkdir b-<N>.dcb`: a directory there reads as an empty batch and makes
///   the slow holder's `rename` fail (EISDIR), so it can never publish late.
/// - Readers learn of news by opening the next name, `b-<N+1>.dcb`.
/// - Compaction writes a checkpoint batch (flag set, the whole live state, logical offsets
///   from 0) and then a marker `ckpt-<c>` naming it. Batches before the previous checkpoint
///   are deleted, so a process more than one checkpoint behind notices through the marker of
///   the checkpoint after its own and starts again from the newest checkpoint.
///
/// Logical offsets: a checkpoint's payload starts a generation at offset 0 and every later
/// batch's payload follows the previous one, so index entries address records exactly as in
/// a local segment (`LogHead.segment` is the generation's checkpoint batch number, 0 before
/// the first checkpoint).
final class NetworkLog: LogStore {
    static let markerName = "network"
    static let headerSize = 64
    private static let magic: UInt64 = 0x4843_5441_4243_4344  // "DCBCTACH"
    static let version: UInt32 = 2
    private static let checkpointFlag: UInt32 = 1

    let directory: String
    /// Seconds after which another process's unpublished claim is abandoned.
    let lease: Double
    /// Reads look for news at most this often (seconds); writes always look first.
    let pollInterval: Double

    /// Batch number of the current generation's checkpoint (0: none yet).
    private(set) var generation: UInt64 = 0
    /// The salt the current generation's records are bound to (`RecordPlace`): chosen by the
    /// writer of its first non-empty batch (a checkpoint, or batch 1 onwards before the first
    /// checkpoint) and carried in every batch header of the generation. 0: not chosen yet.
    private(set) var generationSalt: UInt64 = 0
    /// The salt chosen for the claimed batch while the generation has none.
    private var claimSalt: UInt64 = 0
    /// Checkpoints so far (the current generation's), and the one before it.
    private var checkpointCount: UInt64 = 0
    private var previousGeneration: UInt64 = 0
    /// Last batch applied to this process's view.
    private(set) var last: UInt64 = 0
    /// Logical end of the current generation.
    private(set) var end: Int64 = 0
    /// Non-empty batches of the current generation: logical start, number, payload length.
    private var pieces: [(start: Int64, number: UInt64, length: Int64)] = []
    /// Whole batch files (header included) kept in memory: batches never change, and reading
    /// through a network client costs a round trip per read. Small batches always, a
    /// checkpoint up to `keptCheckpointLimit`.
    private var kept: [UInt64: [UInt8]] = [:]
    static let keptBatchLimit = 1 << 20
    static let keptCheckpointLimit = 64 << 20
    private var descriptors: [UInt64: FileDescriptor] = [:]
    /// The batch being claimed, if this process holds a claim.
    private(set) var claimed: UInt64?
    private var lastPoll: Double = -1
    private var lastMarkerProbe: Double = -1
    /// Batches that failed their checksum (their records were skipped), for `check`.
    private(set) var damagedBatches: [UInt64] = []
    let statistics: StatisticsCounters = ProcessStatistics()

    init(directory: String, lease: Double = 30, pollInterval: Double = 0.005) throws {
        self.directory = directory
        self.lease = lease
        self.pollInterval = pollInterval
        let marker = directory + "/" + NetworkLog.markerName
        if PathOps.fileSize(marker) == nil {
            try NetworkLog.publishFile(directory: directory, name: NetworkLog.markerName, Array("diskcache-swift network mode\n".utf8), sync: false)
        }
        try rediscover()
    }

    // MARK: Names

    static func batchName(_ n: UInt64) -> String { "b-" + padded(n) + ".dcb" }
    static func claimName(_ n: UInt64) -> String { "b-" + padded(n) + ".claim" }
    static func markerName(checkpoint c: UInt64) -> String { "ckpt-" + padded(c) }

    private static func padded(_ n: UInt64) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, 12 - digits.count)) + digits
    }

    static func number(fromName name: String, prefix: String, suffix: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count > prefix.count + suffix.count else { return nil }
        return UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
    }

    private func path(_ name: String) -> String { directory + "/" + name }

    // MARK: Finding news

    /// Starts over from the newest checkpoint marker (directory listings may be stale, so
    /// markers past the listed ones are probed too). Batches are then read by `poll`.
    func rediscover() throws {
        let names: [String]
        do { names = try PathOps.listDirectory(directory) } catch {
            throw DiskCacheError.io("list", directory, error)
        }
        var c = names.compactMap { NetworkLog.number(fromName: $0, prefix: "ckpt-", suffix: "") }.max() ?? 0
        while PathOps.fileSize(path(NetworkLog.markerName(checkpoint: c + 1))) != nil { c += 1 }
        var start: UInt64 = 0
        // The newest marker that still names a readable checkpoint.
        while c > 0 {
            if let n = readMarker(c), PathOps.fileSize(path(NetworkLog.batchName(n))) != nil {
                start = n
                break
            }
            c -= 1
        }
        if start == 0 && c == 0, PathOps.fileSize(path(NetworkLog.batchName(1))) == nil,
           let first = names.compactMap({ NetworkLog.number(fromName: $0, prefix: "b-", suffix: ".dcb") }).min(), first > 1 {
            throw DiskCacheError(.corrupt, "Network log in '\(directory)' has batches from \(first) on but no checkpoint marker")
        }
        closeDescriptors()
        damagedBatches.removeAll()
        generation = 0
        generationSalt = 0
        checkpointCount = 0
        previousGeneration = 0
        pieces.removeAll()
        kept.removeAll()
        end = 0
        last = start == 0 ? 0 : start - 1
        lastPoll = -1
        _ = try poll(force: true)
    }

    private func readMarker(_ c: UInt64) -> UInt64? {
        guard let bytes = try? readWhole(NetworkLog.markerName(checkpoint: c)), bytes.count == 12 else { return nil }
        let n = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        let crc = bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
        return bytes.withUnsafeBytes { dcs_crc32c(0, $0.baseAddress!, 8) } == crc ? n : nil
    }

    /// Reads a whole file; nil if it does not exist. Directories read as empty.
    private func readWhole(_ name: String) throws -> [UInt8]? {
        let p = path(name)
        let fd: FileDescriptor
        do {
            fd = try retryingTransient { () throws(Errno) -> FileDescriptor in
                try openFile(p, .readOnly, options: [.closeOnExec])
            }
        } catch .noSuchFileOrDirectory {
            return nil
        } catch {
            throw DiskCacheError.io("open", p, error)
        }
        defer { try? fd.close() }
        var out: [UInt8] = []
        // Most batches are one small write: start small, grow only while reads fill it.
        var chunk = [UInt8](repeating: 0, count: 1 << 14)
        while true {
            let n: Int
            do {
                n = try chunk.withUnsafeMutableBytes { b throws(Errno) in try readSome(fd, b) }
            } catch .isDirectory {
                return []
            } catch {
                throw DiskCacheError.io("read", p, error)
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if n == chunk.count && chunk.count < 1 << 22 {
                chunk = [UInt8](repeating: 0, count: chunk.count * 4)
            }
        }
        return out
    }

    /// Reads every batch published after `last`. Returns whether anything changed. Reads
    /// (`force` false) look at most every `pollInterval`. With `verify`, after being idle
    /// and about once a second, it also checks that the last batch read still exists, to
    /// notice having fallen so far behind that the next ones were already deleted (a writer
    /// checks that right after claiming instead).
    @discardableResult
    func poll(force: Bool, verify: Bool = false) throws -> Bool {
        let now = monotonicClock()
        if !force && now - lastPoll < pollInterval { return false }
        // A view that has not looked for a while may have been left behind by two
        // checkpoints (one that polls every few ms cannot: that takes 512+ writes).
        let idle = now - lastPoll >= 0.25
        lastPoll = now
        var changed = false
        while true {
            let n = last + 1
            guard let bytes = try readWhole(NetworkLog.batchName(n)) else { break }
            try absorb(n, bytes)
            changed = true
        }
        if verify || idle || now - lastMarkerProbe >= 1 {
            lastMarkerProbe = now
            if isLeftBehind() {
                try rediscover()
                return true
            }
        }
        return changed
    }

    /// Whether the batches this view would read next were deleted (two or more checkpoints
    /// happened since): then the last batch it read is gone too.
    private func isLeftBehind() -> Bool {
        if last > 0 { return PathOps.fileSize(path(NetworkLog.batchName(last))) == nil }
        guard let names = try? PathOps.listDirectory(directory) else { return false }
        return names.contains { $0.hasPrefix("ckpt-") }
    }

    /// Takes batch `n` (its bytes as read) into the view.
    private func absorb(_ n: UInt64, _ bytes: [UInt8]) throws {
        last = n
        if bytes.isEmpty { return }  // abandoned claim, or a write that wrote nothing
        guard let h = NetworkLog.decodeHeader(bytes), h.number == n else {
            // Bit rot. If the header still names this batch, its place and its generation's
            // salt, its records stay readable one by one (each has its own checksum; damaged
            // ones are skipped, so reads of them are misses); otherwise they are lost. The log
            // goes on.
            damagedBatches.append(n)
            if let h = NetworkLog.decodeHeader(bytes, verifying: false), h.number == n, h.flags == 0, h.version == NetworkLog.version,
               h.salt == generationSalt, h.start == UInt64(end), h.length == UInt64(bytes.count - NetworkLog.headerSize), h.length > 0 {
                if bytes.count <= NetworkLog.keptBatchLimit { kept[n] = bytes }
                pieces.append((end, n, Int64(h.length)))
                end += Int64(h.length)
            }
            return
        }
        guard h.version == NetworkLog.version else {
            throw DiskCacheError(.unsupportedFormat, "Batch '\(path(NetworkLog.batchName(n)))' was written by format version \(h.version); this build reads version \(NetworkLog.version): open the cache with a newer diskcache-swift")
        }
        if h.flags & NetworkLog.checkpointFlag != 0 {
            startGeneration(n, checkpoint: h.checkpoint, salt: h.salt)
        } else if h.start != UInt64(end) {
            throw DiskCacheError(.corrupt, "Batch '\(path(NetworkLog.batchName(n)))' starts at \(h.start), the log ends at \(end)")
        } else if h.length > 0 {
            if generationSalt == 0 { generationSalt = h.salt }
            if h.salt != generationSalt {
                throw DiskCacheError(.corrupt, "Batch '\(path(NetworkLog.batchName(n)))' belongs to another log (its salt is not its generation's)")
            }
        }
        if h.length > 0 {
            if bytes.count <= (h.flags & NetworkLog.checkpointFlag != 0 ? NetworkLog.keptCheckpointLimit : NetworkLog.keptBatchLimit) {
                kept[n] = bytes
            }
            pieces.append((end, n, Int64(h.length)))
            end += Int64(h.length)
        }
    }

    /// Checkpoint batch `n` (the `c`-th) starts a generation: logical offsets from 0.
    private func startGeneration(_ n: UInt64, checkpoint c: UInt64, salt: UInt64) {
        generationSalt = salt
        closeDescriptors()
        pieces.removeAll()
        kept.removeAll()
        damagedBatches.removeAll()
        previousGeneration = generation
        generation = n
        checkpointCount = c
        end = 0
    }

    struct BatchHeader {
        var number: UInt64
        var flags: UInt32
        var version: UInt32 = NetworkLog.version
        var start: UInt64
        var length: UInt64
        var checkpoint: UInt64
        var salt: UInt64
    }

    /// Layout: 0 magic u64 | 8 number u64 | 16 flags u32 | 20 format version u32 |
    /// 24 logical start u64 | 32 payload length u64 | 40 checkpoint count u64 |
    /// 48 generation salt u64 | 56 zero u32 | 60 crc32c u32 over bytes 0..<60 and the payload.
    static func encodeHeader(_ h: BatchHeader, payloadCRC: UInt32, payloadLength: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: headerSize)
        out.withUnsafeMutableBytes { p in
            p.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt64.self)
            p.storeBytes(of: h.number.littleEndian, toByteOffset: 8, as: UInt64.self)
            p.storeBytes(of: h.flags.littleEndian, toByteOffset: 16, as: UInt32.self)
            p.storeBytes(of: h.version.littleEndian, toByteOffset: 20, as: UInt32.self)
            p.storeBytes(of: h.start.littleEndian, toByteOffset: 24, as: UInt64.self)
            p.storeBytes(of: UInt64(payloadLength).littleEndian, toByteOffset: 32, as: UInt64.self)
            p.storeBytes(of: h.checkpoint.littleEndian, toByteOffset: 40, as: UInt64.self)
            p.storeBytes(of: h.salt.littleEndian, toByteOffset: 48, as: UInt64.self)
            let crc = dcs_crc32c(payloadCRC, p.baseAddress!, 60)
            p.storeBytes(of: crc.littleEndian, toByteOffset: 60, as: UInt32.self)
        }
        return out
    }

    static func decodeHeader(_ bytes: [UInt8], verifying: Bool = true) -> BatchHeader? {
        guard bytes.count >= headerSize else { return nil }
        return bytes.withUnsafeBytes { p -> BatchHeader? in
            guard UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) == magic else { return nil }
            let length = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
            guard length == UInt64(bytes.count - headerSize) else { return nil }
            let payloadCRC = verifying ? dcs_crc32c(0, p.baseAddress! + headerSize, bytes.count - headerSize) : 0
            guard !verifying || dcs_crc32c(payloadCRC, p.baseAddress!, 60) == UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 60, as: UInt32.self)) else { return nil }
            return BatchHeader(number: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                               flags: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt32.self)),
                               version: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 20, as: UInt32.self)),
                               start: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)),
                               length: length,
                               checkpoint: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 40, as: UInt64.self)),
                               salt: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 48, as: UInt64.self)))
        }
    }

    // MARK: Reading records

    /// Reads logical bytes `[offset, offset + buffer.count)` of the current generation, across
    /// batch boundaries. Returns the count read (less only at the end).
    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var lo = 0, hi = pieces.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if pieces[mid].start <= offset { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return 0 }
        var i = lo - 1
        var done = 0
        while done < buffer.count && i < pieces.count {
            let piece = pieces[i]
            let within = offset + Int64(done) - piece.start
            if within >= piece.length { break }
            let count = Int(min(Int64(buffer.count - done), piece.length - within))
            if let bytes = kept[piece.number] {
                bytes.withUnsafeBytes { b in
                    UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + count)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: b[(NetworkLog.headerSize + Int(within))...].prefix(count)))
                }
                done += count
                i += 1
                continue
            }
            let fd = try descriptor(piece.number)
            let n: Int
            do {
                n = try fd.readAll(at: Int64(NetworkLog.headerSize) + within, UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + count)]))
            } catch {
                throw DiskCacheError.io("read", path(NetworkLog.batchName(piece.number)), error)
            }
            done += n
            if n < count { break }
            i += 1
        }
        return done
    }

    private func descriptor(_ n: UInt64) throws -> FileDescriptor {
        if let fd = descriptors[n] { return fd }
        if descriptors.count >= 256 { closeDescriptors() }
        let p = path(NetworkLog.batchName(n))
        do {
            let fd = try retryingTransient { () throws(Errno) -> FileDescriptor in
                try openFile(p, .readOnly, options: [.closeOnExec])
            }
            descriptors[n] = fd
            return fd
        } catch {
            throw DiskCacheError.io("open batch", p, error)
        }
    }

    private func closeDescriptors() {
        for fd in descriptors.values { try? fd.close() }
        descriptors.removeAll()
    }

    // MARK: Claims (the write lock)

    func lockExclusive(timeout: Double?) throws {
        precondition(claimed == nil, "claim already held")
        let deadline = timeout.map { monotonicClock() + $0 }
        var waitingFor: (n: UInt64, since: Double)?
        var pause: UInt32 = 500
        var transientFailures = 0
        while true {
            _ = try poll(force: true)
            let n = last + 1
            if let w = waitingFor, w.n == n {
                // Still claimed by someone else: only its batch can change that (or the
                // lease running out), so look for the batch (one cheap open per poll) rather
                // than retrying the mkdir.
                let now = monotonicClock()
                if now - w.since >= lease {
                    abandon(n)
                    continue
                }
                if let deadline, now >= deadline {
                    throw DiskCacheError(.timeout, "Timed out after \(timeout!) s waiting for the write claim on '\(path(NetworkLog.claimName(n)))'")
                }
                _ = Blocking.wait { usleep(pause) }
                pause = min(pause * 2, 4_000)
                continue
            }
            let claimError: Errno?
            do {
                try PathOps.mkdir(path(NetworkLog.claimName(n)))
                claimError = nil
            } catch {
                claimError = error
            }
            switch claimError {
            case nil:
                if isLeftBehind() {
                    // Our view was so old that batch n had been deleted: the claim is void.
                    try? PathOps.rmdir(path(NetworkLog.claimName(n)))
                    try rediscover()
                    continue
                }
                claimed = n
                return
            case .fileExists?:
                // Another process holds n: wait for its batch, or abandon it after the lease.
                let now = monotonicClock()
                waitingFor = (n, now)
                pause = 250
                if let deadline, now >= deadline {
                    throw DiskCacheError(.timeout, "Timed out after \(timeout!) s waiting for the write claim on '\(path(NetworkLog.claimName(n)))'")
                }
            case let error?:
                // SMB clients report transient EIO: retry a few times.
                transientFailures += 1
                let permanent: Set<Errno> = [.noSuchFileOrDirectory, .notDirectory, .readOnlyFileSystem, .permissionDenied, .noSpace]
                if transientFailures > 20 || permanent.contains(error) {
                    throw DiskCacheError.io("claim", path(NetworkLog.claimName(n)), error)
                }
            }
            _ = Blocking.wait { usleep(pause) }
            pause = min(pause * 2, 4_000)
        }
    }

    /// Declares batch `n` empty (its claimer died or stalled past the lease). A directory
    /// under the batch name cannot be replaced by the claimer's late `rename`.
    private func abandon(_ n: UInt64) {
        try? PathOps.mkdir(path(NetworkLog.batchName(n)))
    }

    /// The salt of the generation's records; a record written under the claim is bound to it
    /// (or, in a generation with no records yet, to the one chosen for the claim).
    var salt: UInt64 {
        if generationSalt != 0 { return generationSalt }
        if claimSalt == 0 { claimSalt = SegmentHeader.newSalt() }
        return claimSalt
    }

    func unlockExclusive() {
        claimSalt = 0
        guard let n = claimed else { return }
        claimed = nil
        // Nothing was written under the claim: publish it as empty so no one waits a lease.
        do {
            try retryingTransient { () throws(Errno) in try PathOps.mkdir(path(NetworkLog.batchName(n))) }
        } catch .fileExists {
        } catch {
            // Others will abandon it after the lease.
        }
        if last < n { last = n }
    }

    /// Publishes the claimed batch: its payload (records starting at the current logical
    /// end, or at 0 for a checkpoint, bound to the salt `produce` is given) is streamed by
    /// `produce` into a private file, which is then renamed into place. Returns the new
    /// logical end.
    func commit(sync: Bool, checkpoint: Bool = false, _ produce: (_ salt: UInt64, _ emit: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> Int64 {
        if claimed == nil {
            // A second batch in one write (compaction inside a transaction): claim the next
            // number, which only works if no one else published in between.
            let n = last + 1
            do {
                try PathOps.mkdir(path(NetworkLog.claimName(n)))
                claimed = n
            } catch {
                throw DiskCacheError(.timeout, "Could not claim '\(path(NetworkLog.claimName(n)))' for a second batch in one write: \(error)")
            }
        }
        let n = claimed!
        let c = checkpoint ? checkpointCount + 1 : checkpointCount
        let batchSalt = checkpoint ? SegmentHeader.newSalt() : salt
        let name = NetworkLog.batchName(n)
        let (temp, fd) = try NetworkLog.createPrivate(directory: directory, for: name)
        var length = 0
        // A copy of the file for `kept`, while it stays under the limit.
        let keepLimit = checkpoint ? NetworkLog.keptCheckpointLimit : NetworkLog.keptBatchLimit
        var copy: [UInt8]? = [UInt8](repeating: 0, count: NetworkLog.headerSize)
        do {
            var crc: UInt32 = 0
            try produce(batchSalt) { part in
                guard part.count > 0 else { return }
                crc = dcs_crc32c(crc, part.baseAddress!, part.count)
                try fd.writeAll(at: Int64(NetworkLog.headerSize + length), part)
                length += part.count
                if copy != nil {
                    if NetworkLog.headerSize + length <= keepLimit { copy!.append(contentsOf: part) } else { copy = nil }
                }
            }
            let header = NetworkLog.encodeHeader(BatchHeader(number: n, flags: checkpoint ? NetworkLog.checkpointFlag : 0,
                                                             start: checkpoint ? 0 : UInt64(end), length: UInt64(length),
                                                             checkpoint: c, salt: batchSalt), payloadCRC: crc, payloadLength: length)
            try header.withUnsafeBytes { try fd.writeAll(at: 0, $0) }
            copy?.replaceSubrange(0..<NetworkLog.headerSize, with: header)
            if sync || checkpoint { try Blocking.wait { try fd.syncData() } }
            try fd.close()
        } catch {
            try? fd.close()
            try? PathOps.unlink(temp)
            throw DiskCacheError.io("write", temp, error)
        }
        do {
            try retryingTransient { () throws(Errno) in try PathOps.rename(temp, path(name)) }
        } catch {
            try? PathOps.unlink(temp)
            if error == .isDirectory {
                claimed = nil
                if last < n { last = n }
                throw DiskCacheError(.timeout, "A write to '\(directory)' held its claim longer than the \(lease) s lease, so other processes abandoned it; nothing was written", errno: .isDirectory)
            }
            throw DiskCacheError.io("publish", path(name), error)
        }
        claimed = nil
        claimSalt = 0
        last = n
        if checkpoint { startGeneration(n, checkpoint: c, salt: batchSalt) }
        if length > 0 {
            generationSalt = batchSalt
            if let copy { kept[n] = copy }
            pieces.append((end, n, Int64(length)))
            end += Int64(length)
        }
        if checkpoint { afterCheckpoint(n, count: c) }
        return end
    }

    /// Marks the new checkpoint and deletes the generation before the previous one.
    private func afterCheckpoint(_ n: UInt64, count c: UInt64) {
        var marker = [UInt8](repeating: 0, count: 12)
        marker.withUnsafeMutableBytes { p in
            p.storeBytes(of: n.littleEndian, toByteOffset: 0, as: UInt64.self)
            p.storeBytes(of: dcs_crc32c(0, p.baseAddress!, 8).littleEndian, toByteOffset: 8, as: UInt32.self)
        }
        try? NetworkLog.publishFile(directory: directory, name: NetworkLog.markerName(checkpoint: c), marker, sync: false)
        // Everything before the previous generation's checkpoint; also leftovers (a delete
        // can fail on SMB while another client has the file open).
        let keepFrom = previousGeneration
        guard keepFrom > 0, let names = try? PathOps.listDirectory(directory) else { return }
        for name in names {
            if let b = NetworkLog.number(fromName: name, prefix: "b-", suffix: ".dcb"), b < keepFrom {
                if (try? PathOps.unlink(path(name))) == nil { try? PathOps.rmdir(path(name)) }
            } else if let b = NetworkLog.number(fromName: name, prefix: "b-", suffix: ".claim"), b < keepFrom {
                try? PathOps.rmdir(path(name))
            } else if let m = NetworkLog.number(fromName: name, prefix: "ckpt-", suffix: ""), m + 1 < c {
                try? PathOps.unlink(path(name))
            } else if name.hasPrefix("b-"), name.contains(".tmp-"), let b = UInt64(name.dropFirst(2).prefix(12)), b < keepFrom {
                try? PathOps.unlink(path(name))
            }
        }
    }

    /// Batches since the current checkpoint (compaction's trigger in this mode).
    var batchesSinceCheckpoint: UInt64 { last - generation }

    /// A new file under a private name beside `name` (random, so never shared with another
    /// process or host), open for writing.
    static func createPrivate(directory: String, for name: String) throws -> (String, FileDescriptor) {
        var g = SystemRandomNumberGenerator()
        let temp = directory + "/" + name + ".tmp-" + String(g.next() & 0xFFFF_FFFF_FFFF, radix: 16)
        do {
            let fd = try retryingTransient { () throws(Errno) -> FileDescriptor in
                try openFile(temp, .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: CreationMode.file)
            }
            return (temp, fd)
        } catch {
            throw DiskCacheError.io("create", temp, error)
        }
    }

    /// Writes a complete file under a private name and renames it to `name`.
    static func publishFile(directory: String, name: String, _ bytes: [UInt8], sync: Bool) throws {
        try bytes.withUnsafeBytes { try publishFile(directory: directory, name: name, [$0], sync: sync) }
    }

    private static func publishFile(directory: String, name: String, _ parts: [UnsafeRawBufferPointer], sync: Bool) throws {
        let (temp, fd) = try createPrivate(directory: directory, for: name)
        do {
            var at: Int64 = 0
            for part in parts where part.count > 0 {
                try fd.writeAll(at: at, part)
                at += Int64(part.count)
            }
            if sync { try Blocking.wait { try fd.syncData() } }
            try fd.close()
        } catch {
            try? fd.close()
            try? PathOps.unlink(temp)
            throw DiskCacheError.io("write", temp, error)
        }
        let final = directory + "/" + name
        do {
            try retryingTransient { () throws(Errno) in try PathOps.rename(temp, final) }
        } catch {
            try? PathOps.unlink(temp)
            throw DiskCacheError.io("publish", final, error)
        }
    }

    // MARK: LogStore

    var name: String { "the network log of \(directory) (generation \(generation))" }
    var isNetwork: Bool { true }

    /// A claim starts from the newest batch: there is nothing to settle.
    func settle(opening: Bool) throws {}

    func publishedHead() -> LogHead {
        if claimed == nil { _ = try? poll(force: false) }
        return LogHead(segment: generation, end: end)
    }

    /// Brings the view up to date now (before a write, or after a read found a file gone).
    func refresh() throws -> LogHead {
        if claimed == nil { _ = try poll(force: true, verify: true) }
        return LogHead(segment: generation, end: end)
    }

    func mapped(at offset: Int64, count: Int) -> UnsafeRawBufferPointer? { nil }

    func scan(from: Int64, to: Int64, resync: Bool, _ body: (RecordView, Int64) throws -> Void) throws -> Segment.ScanResult {
        try Segment.scan(reading: { try read(at: $0, into: $1) }, from: from, to: to, salt: generationSalt, source: name, resync: resync, body)
    }

    /// A batch not yet read was deleted: this view is more than a checkpoint behind. It starts
    /// again from the newest checkpoint.
    func headAfterLosingTrack() throws -> LogHead? {
        try rediscover()
        return try refresh()
    }

    /// Indexes are rebuilt from the newest checkpoint (no snapshots in this mode).
    func startIndex(at head: LogHead) throws -> (index: ShardIndex, from: Int64) { (ShardIndex(), 0) }

    func indexCaughtUp(_ index: ShardIndex, end: Int64, replayed: Int64, closing: Bool) {}

    func append(_ records: UnsafeRawBufferPointer, at head: LogHead, sync: Bool) throws -> LogHead {
        let end = try commit(sync: sync) { _, emit in try emit(records) }
        return LogHead(segment: generation, end: end)
    }

    /// After max(256, live bytes / 16 KiB) batches (each costs readers an open), or when
    /// more than half of a log larger than 4 MiB is dead.
    func compactionDue(end: Int64, liveBytes: Int64) -> Bool {
        batchesSinceCheckpoint >= max(256, UInt64(max(0, liveBytes) / 16384)) || (end > 4 << 20 && (end - liveBytes) * 2 > end)
    }

    func compact(sync: Bool, _ writeLive: (UInt64, (UnsafeRawBufferPointer, Int64) throws -> Void) throws -> Void) throws -> LogHead {
        let end = try commit(sync: sync, checkpoint: true) { salt, emit in
            try withoutActuallyEscaping(emit) { emit in try writeLive(salt) { chunk, _ in try emit(chunk) } }
        }
        return LogHead(segment: generation, end: end)
    }

    var damageFindings: [CheckFinding] {
        damagedBatches.map { n in
            let path = path(NetworkLog.batchName(n))
            return CheckFinding(kind: .damagedRecord, message: "Damaged batch \(path) (its records were skipped)", path: path, fixed: false)
        }
    }

    func reopenAfterFork() throws {
        // The child does not hold the parent's claim; descriptors are per file and read-only.
        claimed = nil
    }

    func close() {
        closeDescriptors()
    }
}

/// Retries an operation that network filesystem clients fail transiently (SMB: EIO, EBUSY
/// right after a close reaches the server late).
func retryingTransient<T>(_ body: () throws(Errno) -> T) throws(Errno) -> T {
    var pause: UInt32 = 1000
    var attempt = 0
    while true {
        do {
            return try body()
        } catch {
            attempt += 1
            guard attempt < 6, error == .ioError || error == .resourceBusy || error == .resourceTemporarilyUnavailable else { throw error }
            usleep(pause)
            pause *= 2
        }
    }
}

/// Seconds on a clock that never jumps (for leases: no other host's clock is involved).
func monotonicClock() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// `FileDescriptor.open` with its error typed (swift-system declares it untyped).
func openFile(_ path: String, _ mode: FileDescriptor.AccessMode, options: FileDescriptor.OpenOptions, permissions: FilePermissions? = nil) throws(Errno) -> FileDescriptor {
    do {
        return try FileDescriptor.open(FilePath(path), mode, options: options, permissions: permissions)
    } catch {
        throw error as? Errno ?? .ioError
    }
}

func readSome(_ fd: FileDescriptor, _ buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
    do {
        return try fd.read(into: buffer)
    } catch {
        throw error as? Errno ?? .ioError
    }
}
