#if canImport(Glibc)
import Glibc
#endif
import CDiskCacheSupport
import SystemPackage

/// The header a segment file starts with, written twice (one flipped bit must not cost the
/// log its salt). Little-endian:
///
///     0 magic u64 | 8 format version u32 | 12 data start u32 | 16 segment id u64
///     24 salt u64 | 32..<60 zero | 60 crc32c u32 over 0..<60
///
/// Records start at `dataStart`; log offsets count from there.
struct SegmentHeader: Equatable {
    static let size = 64
    static let dataStart = 2 * size
    static let magic: UInt64 = 0x544E_4D47_4553_4344  // "DCSEGMNT"
    static let version: UInt32 = 2

    var id: UInt64
    var salt: UInt64

    /// Both copies.
    func encoded() -> [UInt8] {
        var one = [UInt8](repeating: 0, count: SegmentHeader.size)
        one.withUnsafeMutableBytes { p in
            p.storeBytes(of: SegmentHeader.magic.littleEndian, toByteOffset: 0, as: UInt64.self)
            p.storeBytes(of: SegmentHeader.version.littleEndian, toByteOffset: 8, as: UInt32.self)
            p.storeBytes(of: UInt32(SegmentHeader.dataStart).littleEndian, toByteOffset: 12, as: UInt32.self)
            p.storeBytes(of: id.littleEndian, toByteOffset: 16, as: UInt64.self)
            p.storeBytes(of: salt.littleEndian, toByteOffset: 24, as: UInt64.self)
            p.storeBytes(of: dcs_crc32c(0, p.baseAddress!, 60).littleEndian, toByteOffset: 60, as: UInt32.self)
        }
        return one + one
    }

    enum Decoded: Equatable {
        case header(SegmentHeader)
        case damaged
        case newer(version: UInt32)
    }

    /// The first copy that verifies (`bytes` holds both).
    static func decode(_ bytes: UnsafeRawBufferPointer) -> Decoded {
        for copy in 0..<2 where bytes.count >= (copy + 1) * size {
            let p = UnsafeRawBufferPointer(rebasing: bytes[(copy * size)..<((copy + 1) * size)])
            guard UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) == magic,
                  dcs_crc32c(0, p.baseAddress!, 60) == UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 60, as: UInt32.self))
            else { continue }
            let version = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            guard version == SegmentHeader.version,
                  UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 12, as: UInt32.self)) == UInt32(dataStart)
            else { return .newer(version: version) }
            return .header(SegmentHeader(id: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
                                         salt: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self))))
        }
        return .damaged
    }

    /// A new random salt (never 0, which the network log reads as "not chosen yet").
    static func newSalt() -> UInt64 {
        var g = SystemRandomNumberGenerator()
        return g.next() | 1
    }
}

/// One append-only log file. The active segment is the whole log: compaction writes a new one
/// holding only live records and the old one is deleted, so a reader never follows a chain.
///
/// The open file owns its mapping (local disks: the data mapped read-only and shared, reserved
/// far past the end so growth needs no remap). The mapping lives as long as the object: a
/// reader that holds the object while it looks at mapped bytes cannot have them unmapped
/// under it by a nested write that switches segments.
final class SegmentFile {
    static let prefix = "segment-"
    static let suffix = ".dcl"
    static let mapReserve = 1 << 36

    let id: UInt64
    let salt: UInt64
    let path: String
    let fd: FileDescriptor
    /// The file mapped from offset 0 (nil: read with `pread`).
    private let mapping: UnsafeRawPointer?

    static func name(_ id: UInt64) -> String {
        let digits = String(id)
        return prefix + String(repeating: "0", count: max(0, 12 - digits.count)) + digits + suffix
    }

    /// The segment id a file name denotes, if it is a segment.
    static func id(fromName name: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        return UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
    }

    /// Opens segment `id` in `directory`. With `create` (caller holds the writer lock), a
    /// missing file, or one too short to hold a complete header (its creator crashed before
    /// writing it, so it holds no records), gets a new header and salt.
    init(directory: String, id: UInt64, create: Bool, mappable: Bool) throws {
        self.id = id
        let path = directory + "/" + SegmentFile.name(id)
        self.path = path
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readWrite, options: create ? [.create, .closeOnExec] : [.closeOnExec], permissions: CreationMode.file)
        } catch {
            throw DiskCacheError.io("open segment", path, error)
        }
        self.fd = fd
        do {
            var bytes = [UInt8](repeating: 0, count: SegmentHeader.dataStart)
            let n = try bytes.withUnsafeMutableBytes { try fd.readAll(at: 0, $0) }
            switch bytes.withUnsafeBytes({ SegmentHeader.decode(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }) {
            case .header(let h) where h.id == id:
                salt = h.salt
            case .newer(let version):
                throw DiskCacheError(.unsupportedFormat, "Segment '\(path)' was written by format version \(version); this build reads version \(SegmentHeader.version): open the cache with a newer diskcache-swift")
            case .header, .damaged:
                let size = try fd.fileSize()
                guard create, n < SegmentHeader.dataStart || size <= Int64(SegmentHeader.dataStart) else {
                    throw DiskCacheError(.corrupt, "Segment '\(path)' has no intact header (both copies are damaged or name another segment): its records cannot be verified")
                }
                let header = SegmentHeader(id: id, salt: SegmentHeader.newSalt())
                // Retried like a network client's transient failures: a new segment's header is
                // written once, at open, and a lost header write would fail the open.
                let bytes = header.encoded()
                try retryingTransient { () throws(Errno) in
                    try bytes.withUnsafeBufferPointer { (b) throws(Errno) in try fd.writeAll(at: 0, UnsafeRawBufferPointer(b)) }
                }
                _ = try fd.resize(to: Int64(SegmentHeader.dataStart))
                salt = header.salt
            }
        } catch {
            try? fd.close()
            throw DiskCacheError.io("read the header of segment", path, error)
        }
        if mappable, let p = try? MemoryMap.file(fd, length: SegmentFile.mapReserve, .readOnlyShared) {
            mapping = UnsafeRawPointer(p)
        } else {
            mapping = nil
        }
    }

    deinit {
        if let mapping { MemoryMap.unmap(mapping, length: SegmentFile.mapReserve) }
        try? fd.close()
    }

    /// Publishes a complete new segment at `path` (header, then `fill`'s records at log
    /// offsets from 0), durable before it appears. Returns its salt and data length.
    static func writeNew(id: UInt64, to path: String, _ fill: (_ salt: UInt64, _ write: (UnsafeRawBufferPointer, Int64) throws -> Void) throws -> Void) throws -> (salt: UInt64, length: Int64) {
        let header = SegmentHeader(id: id, salt: SegmentHeader.newSalt())
        var length: Int64 = 0
        try AtomicFile.publish(path, sync: true) { fd in
            try header.encoded().withUnsafeBytes { try fd.writeAll(at: 0, $0) }
            try fill(header.salt) { chunk, at in
                try fd.writeAll(at: Int64(SegmentHeader.dataStart) + at, chunk)
                length = max(length, at + Int64(chunk.count))
            }
        }
        return (header.salt, length)
    }

    /// Bytes of records in the file (past the header).
    func dataSize() throws -> Int64 {
        do { return max(0, try fd.fileSize() - Int64(SegmentHeader.dataStart)) } catch {
            throw DiskCacheError.io("stat", path, error)
        }
    }

    /// Reads log bytes from `offset`; the count read is less than asked only at the end.
    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        do { return try fd.readAll(at: Int64(SegmentHeader.dataStart) + offset, buffer) } catch {
            throw DiskCacheError.io("read", path, error)
        }
    }

    /// Whether the file is mapped (see `mapped`).
    var isMapped: Bool { mapping != nil }

    /// The mapped log bytes `[offset, offset + count)`, if the file is mapped. Only for bytes
    /// below the published head: the file never shrinks below it.
    @inline(__always)
    func mapped(at offset: Int64, count: Int) -> UnsafeRawBufferPointer? {
        guard let mapping else { return nil }
        return UnsafeRawBufferPointer(start: mapping + SegmentHeader.dataStart + Int(offset), count: count)
    }

    func write(at offset: Int64, _ bytes: UnsafeRawBufferPointer) throws(Errno) {
        try fd.writeAll(at: Int64(SegmentHeader.dataStart) + offset, bytes)
    }

    /// Cuts the log at `offset`.
    func truncate(at offset: Int64) throws(Errno) {
        do { _ = try fd.resize(to: Int64(SegmentHeader.dataStart) + offset) } catch {
            throw error as? Errno ?? .ioError
        }
    }

    func syncData() throws(Errno) { try fd.syncData() }

    /// Visits the records in `[from, to)` (see `Segment.scan`).
    func scan(from: Int64, to: Int64, resync: Bool, _ body: (RecordView, Int64) throws -> Void) throws -> Segment.ScanResult {
        try Segment.scan(reading: { try read(at: $0, into: $1) }, from: from, to: to, salt: salt, source: path, resync: resync, body)
    }
}

/// Reading a log: the records of any source of log bytes (a segment file, the network
/// batches, bytes in memory).
enum Segment {
    /// What a scan found.
    struct ScanResult {
        /// Just past the last record delivered.
        var validEnd: Int64
        /// Damaged stretches skipped (only with `resync`), with their offsets.
        var damaged: [Int64] = []
        /// Whether the scan stopped before `to` at a record it could not read.
        var stoppedEarly = false
    }

    /// Visits every complete record in `[from, to)` of a log in order; `read` fills the
    /// buffer from a log offset and returns the count (less only at the end). Records inside a
    /// begin…commit group are delivered only once the commit is seen. Without `resync` it stops
    /// at the first torn or rotten record (the tail after a crash); with it, it skips damage and
    /// continues at the next record that verifies at its place (bit rot in the middle of the log
    /// costs only the records it hit). An intact record of a newer format ends the scan with
    /// `.unsupportedFormat`: it is not damage, and nothing may be cut or compacted away for it.
    static func scan(
        reading read: (Int64, UnsafeMutableRawBufferPointer) throws -> Int, from: Int64, to: Int64,
        salt: UInt64, source: String, resync: Bool = false,
        _ body: (RecordView, Int64) throws -> Void
    ) throws -> ScanResult {
        // No larger than the range: a small cache must not pay for zeroing 4 MiB.
        let initial = Int(max(Int64(RecordHeader.size), min(Int64(1 << 22), to - from)))
        var buffer = [UInt8](unsafeUninitializedCapacity: initial) { _, n in n = initial }
        var bufferStart = from   // file offset of buffer[0]
        var bufferCount = 0
        var pos = from
        var result = ScanResult(validEnd: from)
        var inDamage = false
        var group: [(RecordHeader, [UInt8], Int64)]? = nil

        func fill(_ need: Int) throws -> Bool {
            // Ensure buffer holds [pos, pos+need).
            let rel = Int(pos - bufferStart)
            if rel + need <= bufferCount { return true }
            if need > buffer.count {
                let kept = Array(buffer[0..<bufferCount])
                buffer = [UInt8](unsafeUninitializedCapacity: need) { _, n in n = need }
                buffer.replaceSubrange(0..<kept.count, with: kept)
            }
            let keep = bufferCount - rel
            if keep > 0 && rel > 0 {
                buffer.withUnsafeMutableBytes { b in
                    (b.baseAddress!).copyMemory(from: b.baseAddress! + rel, byteCount: keep)
                }
            }
            bufferStart = pos
            bufferCount = max(0, keep)
            let want = Int(min(Int64(buffer.count - bufferCount), to - (bufferStart + Int64(bufferCount))))
            if want > 0 {
                let n = try buffer.withUnsafeMutableBytes { b in
                    try read(bufferStart + Int64(bufferCount), UnsafeMutableRawBufferPointer(rebasing: b[bufferCount..<(bufferCount + want)]))
                }
                bufferCount += n
            }
            return need <= bufferCount
        }

        while pos + Int64(RecordHeader.size) <= to {
            guard try fill(RecordHeader.size) else { break }
            let rel = Int(pos - bufferStart)
            let claimed = buffer.withUnsafeBytes { RecordHeader.claimedLength(UnsafeRawBufferPointer(rebasing: $0[rel..<(rel + 12)])) }
            guard let length = claimed, pos + Int64(length) <= to, try fill(length) else {
                if resync {
                    if !inDamage { result.damaged.append(pos); inDamage = true }
                    pos += 1
                    continue
                }
                result.stoppedEarly = true
                return result
            }
            let r = Int(pos - bufferStart)
            let stop: Bool = try buffer.withUnsafeBytes { raw in
                let rec = UnsafeRawBufferPointer(rebasing: raw[r..<(r + length)])
                let h: RecordHeader
                switch RecordHeader.check(rec, at: RecordPlace(salt: salt, offset: pos)) {
                case .record(let decoded): h = decoded
                case .damaged: return true
                case .newer(let version, let kind):
                    throw DiskCacheError(.unsupportedFormat, "'\(source)' holds a record of format version \(version) (kind \(kind)) at offset \(pos); this build reads version \(RecordHeader.version): open the cache with a newer diskcache-swift")
                }
                switch h.kind {
                case .begin:
                    group = []
                case .commit:
                    if let g = group {
                        for (gh, bytes, off) in g { try bytes.withUnsafeBytes { try body(RecordView(gh, $0)!, off) } }
                    }
                    group = nil
                    result.validEnd = pos + Int64(length)
                default:
                    if group != nil {
                        group!.append((h, Array(rec), pos))
                    } else {
                        try body(RecordView(h, rec)!, pos)
                        result.validEnd = pos + Int64(length)
                    }
                }
                return false
            }
            if stop {
                if resync {
                    if !inDamage { result.damaged.append(pos); inDamage = true }
                    pos += 1
                    continue
                }
                result.stoppedEarly = true
                return result
            }
            inDamage = false
            pos += Int64(length)
        }
        if pos < to && resync && !inDamage && to - pos > 0 { result.damaged.append(pos) }
        result.stoppedEarly = pos < to && !resync
        return result
    }
}
