#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import SystemPackage

/// Reading the network log: finding new batches (by opening the next name), taking them
/// into this process's view, and reading records across them.
extension NetworkLog {
    // MARK: Finding news

    /// Starts over from the newest checkpoint marker (directory listings may be stale, so
    /// markers past the listed ones are probed too). Batches are then read by `poll`.
    func rediscover() throws {
        try Blocking.wait {
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
    }

    func readMarker(_ c: UInt64) -> UInt64? {
        guard let bytes = try? readWhole(NetworkLog.markerName(checkpoint: c)), bytes.count == 12 else { return nil }
        let n = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        let crc = bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
        return bytes.withUnsafeBytes { dcs_crc32c(0, $0.baseAddress!, 8) } == crc ? n : nil
    }

    /// Reads a whole file; nil if it does not exist. Directories read as empty.
    func readWhole(_ name: String) throws -> [UInt8]? {
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
        return try Blocking.wait {
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
    }

    /// Whether the batches this view would read next were deleted (two or more checkpoints
    /// happened since): then the last batch it read is gone too.
    func isLeftBehind() -> Bool {
        return Blocking.wait {
            if last > 0 { return PathOps.fileSize(path(NetworkLog.batchName(last))) == nil }
            guard let names = try? PathOps.listDirectory(directory) else { return false }
            return names.contains { $0.hasPrefix("ckpt-") }
        }
    }

    /// Takes batch `n` (its bytes as read) into the view.
    func absorb(_ n: UInt64, _ bytes: [UInt8]) throws {
        last = n
        if bytes.isEmpty { return }  // abandoned claim, or a write that wrote nothing
        guard let h = BatchHeader.decode(bytes), h.number == n else {
            // Bit rot. If the header still names this batch, its place and its generation's
            // salt, its records stay readable one by one (each has its own checksum; damaged
            // ones are skipped, so reads of them are misses); otherwise they are lost. The log
            // goes on.
            damagedBatches.append(n)
            if let h = BatchHeader.decode(bytes, verifying: false), h.number == n, h.flags == 0, h.version == BatchHeader.version,
               h.salt == generationSalt, h.start == UInt64(end), h.length == UInt64(bytes.count - BatchHeader.size), h.length > 0 {
                if bytes.count <= NetworkLog.keptBatchLimit { kept[n] = bytes }
                pieces.append((end, n, Int64(h.length)))
                end += Int64(h.length)
            }
            return
        }
        guard h.version == BatchHeader.version else {
            throw DiskCacheError(.unsupportedFormat, "Batch '\(path(NetworkLog.batchName(n)))' was written by format version \(h.version); this build reads version \(BatchHeader.version): open the cache with a newer diskcache-swift")
        }
        if h.isCheckpoint {
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
            if bytes.count <= (h.isCheckpoint ? NetworkLog.keptCheckpointLimit : NetworkLog.keptBatchLimit) {
                kept[n] = bytes
            }
            pieces.append((end, n, Int64(h.length)))
            end += Int64(h.length)
        }
    }

    /// Checkpoint batch `n` (the `c`-th) starts a generation: logical offsets from 0.
    func startGeneration(_ n: UInt64, checkpoint c: UInt64, salt: UInt64) {
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
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: b[(BatchHeader.size + Int(within))...].prefix(count)))
                }
                done += count
                i += 1
                continue
            }
            let fd = try descriptor(piece.number)
            let n: Int
            do {
                n = try Blocking.wait { () throws(Errno) in
                    try fd.readAll(at: Int64(BatchHeader.size) + within, UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + count)]))
                }
            } catch {
                throw DiskCacheError.io("read", path(NetworkLog.batchName(piece.number)), error)
            }
            done += n
            if n < count { break }
            i += 1
        }
        return done
    }

    func descriptor(_ n: UInt64) throws -> FileDescriptor {
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

    func closeDescriptors() {
        for fd in descriptors.values { try? fd.close() }
        descriptors.removeAll()
    }
}
