import SystemPackage

/// One append-only log file. The active segment is the whole log: compaction writes a new one
/// holding only live records and the old one is deleted, so a reader never follows a chain.
enum Segment {
    static let prefix = "segment-"
    static let suffix = ".dcl"

    static func name(_ id: UInt64) -> String {
        let digits = String(id)
        return prefix + String(repeating: "0", count: max(0, 12 - digits.count)) + digits + suffix
    }

    /// The segment id a file name denotes, if it is a segment.
    static func id(fromName name: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        return UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
    }

    /// What a scan found.
    struct ScanResult {
        /// Just past the last record delivered.
        var validEnd: Int64
        /// Damaged stretches skipped (only with `resync`), with their offsets.
        var damaged: [Int64] = []
        /// Whether the scan stopped before `to` at a record it could not read.
        var stoppedEarly = false
    }

    /// Visits every complete record in `[from, to)` of `fd` in order, reading in large chunks.
    /// Records inside a begin…commit group are delivered only once the commit is seen.
    /// Without `resync` it stops at the first torn or rotten record (the tail after a crash);
    /// with it, it skips damage and continues at the next record that verifies (bit rot in
    /// the middle of the log costs only the records it hit).
    static func scan(
        _ fd: FileDescriptor, from: Int64, to: Int64, resync: Bool = false,
        _ body: (RecordHeader, UnsafeRawBufferPointer, Int64) throws -> Void
    ) throws -> ScanResult {
        try scan(reading: { offset, buffer in try fd.readAll(at: offset, buffer) }, from: from, to: to, resync: resync, body)
    }

    /// `scan` over any source of log bytes: `read` fills the buffer from the offset and
    /// returns the count (less only at the end).
    static func scan(
        reading read: (Int64, UnsafeMutableRawBufferPointer) throws -> Int, from: Int64, to: Int64, resync: Bool = false,
        _ body: (RecordHeader, UnsafeRawBufferPointer, Int64) throws -> Void
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
                guard let h = RecordHeader.decode(rec) else { return true }
                switch h.kind {
                case .begin:
                    group = []
                case .commit:
                    if let g = group {
                        for (gh, bytes, off) in g { try bytes.withUnsafeBytes { try body(gh, $0, off) } }
                    }
                    group = nil
                    result.validEnd = pos + Int64(length)
                default:
                    if group != nil {
                        group!.append((h, Array(rec), pos))
                    } else {
                        try body(h, rec, pos)
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
