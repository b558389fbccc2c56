import SystemPackage

/// The log on a local disk: one segment file (`segment-N.dcl`), writers excluded by `flock`
/// on the control file, the head published in its shared page (`LocalCoordinator`), and index
/// snapshots beside the segment so that opening a large cache replays little.
final class LocalLog: LogStore {
    let directory: String
    private let fileLock: FileLock
    private let control: ControlPage
    /// The segment the index reflects. Mapped on local disks (reads are memory copies); a
    /// reader holds the object while it looks at mapped bytes.
    private(set) var segment: SegmentFile?
    /// Forced local mode on a network filesystem: mappings are not coherent there.
    private let mappable: Bool
    /// How far into the segment the newest snapshot this process knows of goes.
    private(set) var snapshotEnd: Int64 = 0

    init(directory: String) throws {
        self.directory = directory
        let path = directory + "/" + ControlPage.fileName
        fileLock = try FileLock(path: path)
        do { control = try ControlPage(path: path, lock: fileLock) } catch {
            fileLock.close()
            throw error
        }
        mappable = !FilesystemKind.isNetwork(directory)
    }

    var name: String { segment?.path ?? directory }
    var isNetwork: Bool { false }
    var statistics: StatisticsCounters { control }

    func segmentPath(_ id: UInt64) -> String { directory + "/" + SegmentFile.name(id) }

    // MARK: Writers

    var writers: WriterExclusion { fileLock }

    func settle(opening: Bool) throws {
        if opening || needsSettling { try recoverHead() }
    }

    var needsSettling: Bool { control.isWriting || !control.isIntact }

    /// Establishes a trustworthy published head, under the exclusive lock: the newest complete
    /// segment, and its end including complete records a crashed writer left past the head.
    /// The published head is believed only when it is intact and the log holds it; otherwise
    /// (control file new or damaged) the log is replayed from its start.
    private func recoverHead() throws {
        try Blocking.wait {
            let names: [String]
            do { names = try PathOps.listDirectory(directory) } catch {
                throw DiskCacheError.io("list", directory, error)
            }
            let segments = names.compactMap(SegmentFile.id(fromName:)).sorted()
            var head = control.publishedHead()
            let fresh = !control.isIntact
            if fresh || !segments.contains(head.segment) || (segments.last ?? 0) > head.segment {
                head = LogHead(segment: segments.last ?? 1, end: 0)
            }
            let file = try SegmentFile(directory: directory, id: head.segment, create: true, mappable: false)
            let size = try file.dataSize()
            if head.end > size { head.end = 0 }
            // Past the head there is either nothing, a crashed writer's leftovers, or (after a
            // power loss that kept the segment but not the control page) committed records.
            // Complete records and complete groups are adopted; the first torn one ends the log.
            if size > head.end {
                // From the start (the control page is new): skip damage in the middle rather
                // than cutting every record after it; only the torn tail goes.
                let scan = try file.scan(from: head.end, to: size, resync: head.end == 0) { _, _ in }
                head.end = scan.validEnd
                if scan.validEnd < size {
                    do { try file.truncate(at: scan.validEnd) } catch {
                        throw DiskCacheError.io("truncate torn tail of", file.path, error)
                    }
                }
            }
            control.setWriting(false)
            if head != control.publishedHead() || fresh { control.publish(head) }
            for s in segments where s < head.segment { try? PathOps.unlink(segmentPath(s)) }
            Snapshot.removeStale(directory: directory, keep: head.segment, names: names)
            AtomicFile.removeStaleTemporaries(directory: directory, names: names)
        }
    }

    // MARK: The head and the records

    @inline(__always)
    func publishedHead() -> LogHead { control.publishedHead() }

    var salt: UInt64 { segment?.salt ?? 0 }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let segment else { throw DiskCacheError(.closed, "Cache at '\(directory)' is closed") }
        return try segment.read(at: offset, into: buffer)
    }

    var readsFromMemory: Bool { segment?.isMapped ?? false }

    @inline(__always)
    func mapped(at offset: Int64, count: Int) -> UnsafeRawBufferPointer? {
        segment?.mapped(at: offset, count: count)
    }

    func scan(from: Int64, to: Int64, resync: Bool, _ body: (RecordView, Int64) throws -> Void) throws -> Segment.ScanResult {
        guard let segment else { throw DiskCacheError(.closed, "Cache at '\(directory)' is closed") }
        return try segment.scan(from: from, to: to, resync: resync, body)
    }

    /// Segments are read through a descriptor opened before they were replaced: nothing of the
    /// current one vanishes.
    func headAfterLosingTrack() throws -> LogHead? { nil }

    // MARK: The index

    func startIndex(at head: LogHead) throws -> (index: ShardIndex, from: Int64) {
        segment = try SegmentFile(directory: directory, id: head.segment, create: false, mappable: mappable)
        if let (index, end) = try snapshotIndex(upTo: head.end) {
            snapshotEnd = end
            return (index, end)
        }
        snapshotEnd = 0
        var index = ShardIndex()
        // Records of small items are rarely under ~160 bytes: a cheap guess at the count.
        index.table.reserve(Int(head.end / 160))
        return (index, 0)
    }

    func snapshotIndex(upTo end: Int64) throws -> (index: ShardIndex, from: Int64)? {
        guard let segment else { return nil }
        return try Blocking.wait { try Snapshot.read(directory: directory, log: segment, upTo: end) }.map { (index: $0.0, from: $0.1) }
    }

    func indexCaughtUp(_ index: ShardIndex, end: Int64, replayed: Int64, closing: Bool) {
        // The next process to open starts from the index as it is now rather than replaying
        // what this one saw (and wrote) since the last snapshot.
        let worth = closing ? end - snapshotEnd : replayed
        guard let segment, worth >= Snapshot.worthWriting, end > snapshotEnd || closing else { return }
        if Blocking.wait({ Snapshot.write(directory: directory, index: index, log: segment, end: end) }) { snapshotEnd = end }
    }

    // MARK: Writing

    func append(_ records: UnsafeRawBufferPointer, at head: LogHead, sync: Bool) throws -> LogHead {
        guard let segment else { throw DiskCacheError(.closed, "Cache at '\(directory)' is closed") }
        control.setWriting(true)
        do {
            try segment.write(at: head.end, records)
            if sync { try Blocking.wait { try segment.syncData() } }
        } catch {
            // Nothing was published: cut whatever part was written so no one adopts it (a
            // later open adopts complete records past the head). If even the cut fails,
            // break the first record's header so the adoption stops before it.
            if (try? segment.truncate(at: head.end)) == nil {
                let zeros = [UInt8](repeating: 0, count: RecordHeader.size)
                _ = try? zeros.withUnsafeBytes { try segment.write(at: head.end, $0) }
            }
            control.setWriting(false)
            throw DiskCacheError.io("append to", segment.path, error as? Errno ?? .ioError)
        }
        let new = LogHead(segment: head.segment, end: head.end + Int64(records.count))
        control.publish(new)
        control.setWriting(false)
        return new
    }

    /// When more than half of a log larger than 4 MiB is dead records.
    func compactionDue(end: Int64, liveBytes: Int64) -> Bool {
        end > 4 << 20 && (end - liveBytes) * 2 > end
    }

    func compact(sync: Bool, _ writeLive: (UInt64, (UnsafeRawBufferPointer, Int64) throws -> Void) throws -> Void) throws -> LogHead {
        guard let old = segment else { throw DiskCacheError(.closed, "Cache at '\(directory)' is closed") }
        let newID = old.id + 1
        let path = segmentPath(newID)
        // A crash from here to the publication leaves the flag set: the next writer then
        // settles on the newest complete segment before appending anywhere.
        control.setWriting(true)
        let length: Int64
        do {
            length = try Blocking.wait { try SegmentFile.writeNew(id: newID, to: path, writeLive).length }
        } catch {
            control.setWriting(false)
            throw DiskCacheError.io("compact into", path, error)
        }
        let head = LogHead(segment: newID, end: length)
        control.publish(head)
        control.setWriting(false)
        segment = try SegmentFile(directory: directory, id: newID, create: false, mappable: mappable)
        snapshotEnd = 0
        try? PathOps.unlink(old.path)
        try? PathOps.unlink(directory + "/" + Snapshot.name(old.id))
        return head
    }

    var damageFindings: [CheckFinding] { [] }

    // MARK: Lifetime

    func reopenAfterFork() throws { try fileLock.reopenAfterFork() }

    func close() {
        control.close()
        fileLock.close()
        segment = nil
    }
}
