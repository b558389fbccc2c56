extension DiskCache {
    /// Verifies every record, every value file and the directory's contents; with `fix`,
    /// removes what cannot be read (damaged records by compaction, items whose value file is
    /// gone, unknown files and empty directories).
    public func check(fix: Bool = false) throws -> [CheckFinding] {
        try NoWait.refuse("checking the whole cache")
        return try withWriting {
            var findings: [CheckFinding] = []
            let log = try openLog()
            let segPath = log.name
            var replayed = ShardIndex()
            replayed.bulkLoading = true
            let scan: Segment.ScanResult
            do {
                scan = try log.scan(from: 0, to: applied.end, resync: true) { r, off in
                    replayed.apply(r, offset: off)
                }
            } catch {
                throw DiskCacheError.io("read segment", segPath, error)
            }
            for offset in scan.damaged {
                findings.append(CheckFinding(kind: .damagedRecord, message: "Damaged record at offset \(offset) of \(segPath)", path: segPath, fixed: fix))
            }
            for var finding in log.damageFindings {
                finding.fixed = fix
                findings.append(finding)
            }
            if replayed.count != index.count {
                findings.append(CheckFinding(kind: .countMismatch, message: "Index holds \(index.count) items, the log \(replayed.count)", path: nil, fixed: fix))
            }

            var referenced = Set<String>()
            var toDelete: [Int] = []
            for i in index.table.liveIndices {
                let e = index.table.entries[i]
                var problemPath: String? = nil
                let problem: String? = try withEntryRecord(e) { r in
                    guard let r else { return "Damaged record for an item at offset \(e.offset) of \(segPath)" }
                    guard r.header.isExternal else { return nil }
                    guard let ext = r.externalValue else {
                        return "Malformed value file reference at offset \(e.offset) of \(segPath)"
                    }
                    referenced.insert(ext.name)
                    problemPath = directory + "/" + ext.name
                    var buffer: [UInt8] = []
                    if PathOps.fileSize(directory + "/" + ext.name) == nil { return "Missing value file \(directory)/\(ext.name)" }
                    if !ValueFiles.read(directory: directory, ext, into: &buffer) { return "Value file \(directory)/\(ext.name) has the wrong size or checksum" }
                    return nil
                }
                if let problem {
                    findings.append(CheckFinding(kind: .damagedValueFile, message: problem, path: problemPath, fixed: fix))
                    toDelete.append(i)
                }
            }
            if fix {
                for i in toDelete { deleteEntry(i) }
            }

            // Files nobody refers to, and empty directories, below the cache directory.
            func walk(_ relative: String) -> Bool {
                let full = relative.isEmpty ? directory : directory + "/" + relative
                guard let names = try? PathOps.listDirectory(full) else { return false }
                var empty = true
                for name in names.sorted() {
                    let rel = relative.isEmpty ? name : relative + "/" + name
                    let path = directory + "/" + rel
                    if PathOps.isDirectory(path) {
                        if relative.isEmpty && !(name.utf8.count == 2 && name.utf8.allSatisfy(isHex)) { empty = false; continue }
                        if walk(rel) {
                            findings.append(CheckFinding(kind: .emptyDirectory, message: "Empty directory \(path)", path: path, fixed: fix))
                            if fix { try? PathOps.rmdir(path) } else { empty = false }
                        } else {
                            empty = false
                        }
                        continue
                    }
                    if relative.isEmpty { empty = false; continue }  // the engine's own files and the user's
                    if referenced.contains(rel) {
                        empty = false
                    } else {
                        findings.append(CheckFinding(kind: .unknownFile, message: "Unknown file \(path)", path: path, fixed: fix))
                        if fix && (try? PathOps.unlink(path)) != nil { continue }
                        empty = false
                    }
                }
                return empty
            }
            _ = walk("")

            if let failure = compactionBackoff.failure {
                findings.append(CheckFinding(kind: .compactionFailed, message: "The last automatic compaction failed: \(failure.message)", path: directory, fixed: fix))
            }
            if fix && (!scan.damaged.isEmpty || !log.damageFindings.isEmpty || replayed.count != index.count || compactionBackoff.failure != nil) {
                try commitPending()
                try compactLocked()
                compactionBackoff.succeeded()
            }
            return findings
        }
    }
}

private func isHex(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) }
