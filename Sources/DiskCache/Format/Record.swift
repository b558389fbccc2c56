import CDiskCacheSupport

/// What a record does to the index.
enum RecordKind: UInt8 {
    /// Store a value under a key (insert or overwrite).
    case put = 1
    /// Remove a key.
    case delete = 2
    /// Change a key's expire time only.
    case touch = 3
    /// Note an access (least-recently/frequently-used policies): store time field = access time.
    case access = 4
    /// Opens an all-or-nothing group; replay applies it only if its `commit` follows.
    case begin = 5
    case commit = 6
    /// Remove every key.
    case clear = 7
    /// A persisted setting: key = name (text), value = setting value.
    case setting = 8
}

/// Record flags.
enum RecordFlags {
    /// The value lives in its own file; the record's value bytes are `ExternalValue`.
    static let external: UInt8 = 1
}

/// The fixed 64-byte header every record starts with (little-endian):
///
///     0 magic u32 | 4 crc32c u32 over bytes 8..<length | 8 length u32
///     12 kind u8 | 13 flags u8 | 14 key kind u8 | 15 value kind u8 | 16 tag kind u8 | 17..19 zero
///     20 key length u32 | 24 tag length u32 | 28 value length u32
///     32 rowid i64 | 40 store time f64 | 48 expire time f64 (NaN = never) | 56 aux u64
///     64 key bytes, tag bytes, value bytes
///
/// A record is written once and never changed; the checksum covers everything after itself,
/// so a torn or rotten record is recognised and never served.
struct RecordHeader {
    static let size = 64
    static let magic: UInt32 = 0x3152_4344  // "DCR1"
    /// Keys, tags and inline values must fit the u32 length fields with room to spare.
    static let maxPartLength = 1 << 30

    var kind: RecordKind
    var flags: UInt8 = 0
    var keyKind: UInt8 = 0
    var valueKind: UInt8 = 0
    var tagKind: UInt8 = 0
    var keyLength: Int = 0
    var tagLength: Int = 0
    var valueLength: Int = 0
    var rowid: Int64 = 0
    var storeTime: Double = 0
    var expireTime: Double = .nan
    var aux: UInt64 = 0

    var totalLength: Int { RecordHeader.size + keyLength + tagLength + valueLength }
    var keyOffset: Int { RecordHeader.size }
    var tagOffset: Int { RecordHeader.size + keyLength }
    var valueOffset: Int { RecordHeader.size + keyLength + tagLength }
    var isExternal: Bool { flags & RecordFlags.external != 0 }

    init(kind: RecordKind) { self.kind = kind }

    /// Appends a complete record (header, parts, checksum) to `buffer`.
    static func append(
        _ header: RecordHeader, key: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer,
        value: UnsafeRawBufferPointer, to buffer: inout [UInt8]
    ) {
        var h = header
        h.keyLength = key.count
        h.tagLength = tag.count
        h.valueLength = value.count
        let start = buffer.count
        let total = h.totalLength
        buffer.append(contentsOf: repeatElement(0, count: total))
        buffer.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress! + start
            p.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt32.self)
            p.storeBytes(of: UInt32(total).littleEndian, toByteOffset: 8, as: UInt32.self)
            p.storeBytes(of: h.kind.rawValue, toByteOffset: 12, as: UInt8.self)
            p.storeBytes(of: h.flags, toByteOffset: 13, as: UInt8.self)
            p.storeBytes(of: h.keyKind, toByteOffset: 14, as: UInt8.self)
            p.storeBytes(of: h.valueKind, toByteOffset: 15, as: UInt8.self)
            p.storeBytes(of: h.tagKind, toByteOffset: 16, as: UInt8.self)
            p.storeBytes(of: UInt32(h.keyLength).littleEndian, toByteOffset: 20, as: UInt32.self)
            p.storeBytes(of: UInt32(h.tagLength).littleEndian, toByteOffset: 24, as: UInt32.self)
            p.storeBytes(of: UInt32(h.valueLength).littleEndian, toByteOffset: 28, as: UInt32.self)
            p.storeBytes(of: h.rowid.littleEndian, toByteOffset: 32, as: Int64.self)
            p.storeBytes(of: h.storeTime.bitPattern.littleEndian, toByteOffset: 40, as: UInt64.self)
            p.storeBytes(of: h.expireTime.bitPattern.littleEndian, toByteOffset: 48, as: UInt64.self)
            p.storeBytes(of: h.aux.littleEndian, toByteOffset: 56, as: UInt64.self)
            var o = size
            if key.count > 0 { (p + o).copyMemory(from: key.baseAddress!, byteCount: key.count) }
            o += key.count
            if tag.count > 0 { (p + o).copyMemory(from: tag.baseAddress!, byteCount: tag.count) }
            o += tag.count
            if value.count > 0 { (p + o).copyMemory(from: value.baseAddress!, byteCount: value.count) }
            let crc = dcs_crc32c(0, p + 8, total - 8)
            p.storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self)
        }
    }

    /// Reads the length a record claims from its first 12 bytes, or nil if the magic is wrong.
    static func claimedLength(_ p: UnsafeRawBufferPointer) -> Int? {
        guard p.count >= 12 else { return nil }
        let magic = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard magic == RecordHeader.magic else { return nil }
        let length = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        return length >= size ? length : nil
    }

    /// Decodes and verifies a whole record; nil if it is torn, rotten or malformed.
    static func decode(_ p: UnsafeRawBufferPointer) -> RecordHeader? {
        guard let length = claimedLength(p), length <= p.count else { return nil }
        let crc = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        guard dcs_crc32c(0, p.baseAddress! + 8, length - 8) == crc else { return nil }
        guard let kind = RecordKind(rawValue: p[12]) else { return nil }
        var h = RecordHeader(kind: kind)
        h.flags = p[13]
        h.keyKind = p[14]
        h.valueKind = p[15]
        h.tagKind = p[16]
        h.keyLength = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 20, as: UInt32.self)))
        h.tagLength = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt32.self)))
        h.valueLength = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 28, as: UInt32.self)))
        h.rowid = Int64(littleEndian: p.loadUnaligned(fromByteOffset: 32, as: Int64.self))
        h.storeTime = Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 40, as: UInt64.self)))
        h.expireTime = Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 48, as: UInt64.self)))
        h.aux = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 56, as: UInt64.self))
        guard h.totalLength == length else { return nil }
        // Numeric keys are 8 bytes (the engine never writes others; readers load 8 bytes).
        if h.keyKind == ItemKind.int.rawValue || h.keyKind == ItemKind.float.rawValue {
            guard h.keyLength == 8 else { return nil }
        }
        return h
    }
}

/// The value bytes of a record whose value lives in a file: size u64, crc32c u32, then the
/// file's name relative to the cache directory (a share mounts at different paths per host).
struct ExternalValue {
    /// Largest value file a record may name (256 TiB): far beyond any real value, small enough
    /// that sums of sizes cannot overflow.
    static let maxSize: Int64 = 1 << 48

    var size: Int64
    var crc: UInt32
    var name: String

    func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(12 + name.utf8.count)
        withUnsafeBytes(of: UInt64(size).littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: crc.littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: name.utf8)
        return out
    }

    init(size: Int64, crc: UInt32, name: String) {
        self.size = size
        self.crc = crc
        self.name = name
    }

    init?(_ p: UnsafeRawBufferPointer) {
        guard p.count > 12 else { return nil }
        // A size no file can have is damage (or a hostile record), not a value to trust: it
        // must not trap here nor overflow the volume sums later.
        guard let size = Int64(exactly: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt64.self))),
              size <= ExternalValue.maxSize else { return nil }
        self.size = size
        crc = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        name = String(decoding: UnsafeRawBufferPointer(rebasing: p[12...]), as: UTF8.self)
        // Relative names inside the directory only: a damaged or hostile record must not
        // point elsewhere.
        guard !name.isEmpty, !name.hasPrefix("/"), !name.utf8.contains(0),
              !name.split(separator: "/").contains("..") else { return nil }
    }
}
