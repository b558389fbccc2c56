#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import SystemPackage

/// Writing the network log: a batch number is claimed with `mkdir` (the write lock), the
/// batch published by rename, an abandoned claim fenced with a directory under its name.
extension NetworkLog {
    // MARK: Claims (the write lock)

    func lock(timeout: Double?) throws {
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
                try Blocking.wait { () throws(Errno) in try PathOps.mkdir(path(NetworkLog.claimName(n))) }
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
    func abandon(_ n: UInt64) {
        try? PathOps.mkdir(path(NetworkLog.batchName(n)))
    }

    /// The salt of the generation's records; a record written under the claim is bound to it
    /// (or, in a generation with no records yet, to the one chosen for the claim).
    var salt: UInt64 {
        if generationSalt != 0 { return generationSalt }
        if claimSalt == 0 { claimSalt = SegmentHeader.newSalt() }
        return claimSalt
    }

    func unlock() {
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
        var length = 0
        // A copy of the file for `kept`, while it stays under the limit.
        let keepLimit = checkpoint ? NetworkLog.keptCheckpointLimit : NetworkLog.keptBatchLimit
        var copy: [UInt8]? = [UInt8](repeating: 0, count: BatchHeader.size)
        do {
            try Blocking.wait { try AtomicFile.publish(path(name), sync: sync || checkpoint, unnamed: false, network: true) { fd in
                var crc: UInt32 = 0
                try produce(batchSalt) { part in
                    guard part.count > 0 else { return }
                    crc = dcs_crc32c(crc, part.baseAddress!, part.count)
                    try fd.writeAll(at: Int64(BatchHeader.size + length), part)
                    length += part.count
                    if copy != nil {
                        if BatchHeader.size + length <= keepLimit { copy!.append(contentsOf: part) } else { copy = nil }
                    }
                }
                let header = BatchHeader(number: n, flags: checkpoint ? BatchHeader.checkpointFlag : 0,
                                         start: checkpoint ? 0 : UInt64(end), length: UInt64(length),
                                         checkpoint: c, salt: batchSalt).encoded(payloadCRC: crc)
                try header.withUnsafeBytes { try fd.writeAll(at: 0, $0) }
                copy?.replaceSubrange(0..<BatchHeader.size, with: header)
            } }
        } catch let e as DiskCacheError where e.errno == .isDirectory {
            // Our claim outlived its lease and was abandoned: `b-<n>.dcb` is a directory.
            claimed = nil
            if last < n { last = n }
            throw DiskCacheError(.timeout, "A write to '\(directory)' held its claim longer than the \(lease) s lease, so other processes abandoned it; nothing was written", errno: .isDirectory)
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
    func afterCheckpoint(_ n: UInt64, count c: UInt64) {
        Blocking.wait {
            var marker = [UInt8](repeating: 0, count: 12)
            marker.withUnsafeMutableBytes { p in
                p.storeBytes(of: n.littleEndian, toByteOffset: 0, as: UInt64.self)
                p.storeBytes(of: dcs_crc32c(0, p.baseAddress!, 8).littleEndian, toByteOffset: 8, as: UInt32.self)
            }
            try? AtomicFile.publish(path(NetworkLog.markerName(checkpoint: c)), bytes: marker, sync: false, unnamed: false, network: true)
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
                } else if name.hasPrefix("b-"), AtomicFile.writer(ofTemporary: name) != nil, let b = UInt64(name.dropFirst(2).prefix(12)), b < keepFrom {
                    try? PathOps.unlink(path(name))
                }
            }
        }
    }

    /// Batches since the current checkpoint (compaction's trigger in this mode).
    var batchesSinceCheckpoint: UInt64 { last - generation }
}
