#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// Tells network filesystems (where byte-range locks, shared memory and appends do not hold
/// across hosts) from local ones: `statfs`'s magic first, then, for FUSE, the subtype that
/// `/proc/self/mountinfo` names (`fuse.sshfs`, `fuse.smbnetfs` ...).
enum FilesystemKind {
    /// statfs f_type values of network and cluster filesystems (linux/magic.h and the
    /// filesystems' own headers).
    static let networkMagics: Set<Int> = [
        0x6969,        // NFS
        0x517B,        // SMB
        0xFF53_4D42,   // CIFS
        0xFE53_4D42,   // SMB2
        0x00C3_6400,   // Ceph
        0x0BD0_0BD0,   // Lustre
        0x0102_1997,   // 9p (v9fs)
        0x5346_414F,   // AFS
        0x6B41_4653,   // kAFS
        0x7375_7245,   // Coda
        0x564C,        // NCP
        0x0116_1970,   // GFS2
        0x7461_636F,   // OCFS2
        0x4244_4847,   // GPFS ("GPFS" variants report this)
        0x1373_0706,   // BeeGFS
    ]
    static let fuseMagic = 0x6573_5546

    /// FUSE filesystems known to keep their data on a local disk; every other FUSE
    /// filesystem (sshfs, smbnetfs, s3fs, rclone, gcsfuse, glusterfs, ceph-fuse ...) is
    /// treated as a network one, the safe side.
    static let localFuseSubtypes: Set<String> = [
        "ntfs-3g", "ntfs", "ntfs3", "exfat", "fuse-overlayfs", "lxcfs", "squashfuse", "bindfs",
        "encfs", "gocryptfs", "mergerfs", "unionfs", "zfs", "portal", "gvfsd-fuse", "fuseblk",
    ]

    static func isNetwork(_ path: String) -> Bool {
        guard let magic = try? PathOps.filesystemType(path) else { return false }
        if magic == fuseMagic {
            guard let type = mountType(of: path) else { return true }
            let subtype = type.hasPrefix("fuse.") ? String(type.dropFirst(5)) : type
            return !localFuseSubtypes.contains(subtype)
        }
        return networkMagics.contains(magic)
    }

    /// The filesystem type `/proc/self/mountinfo` gives for the mount holding `path`.
    static func mountType(of path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        let real = String(cString: resolved)
        free(resolved)
        guard let text = readSmallFile("/proc/self/mountinfo") else { return nil }
        var best: (length: Int, type: String)?
        for line in text.split(separator: "\n") {
            // id parent major:minor root mountpoint options [optional...] - type source super
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count > 5, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            let mountPoint = unescape(String(fields[4]))
            let inside = real == mountPoint || mountPoint == "/" || real.hasPrefix(mountPoint + "/")
            if inside && mountPoint.count >= (best?.length ?? -1) {
                best = (mountPoint.count, String(fields[dash + 1]))
            }
        }
        return best?.type
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    private static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 4 <= b.count,
               let v = UInt8(String(decoding: b[(i + 1)..<(i + 4)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func readSmallFile(_ path: String) -> String? {
        guard let fd = try? FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) else { return nil }
        defer { try? fd.close() }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            guard let n = try? chunk.withUnsafeMutableBytes({ try fd.read(into: $0) }), n > 0 else { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
