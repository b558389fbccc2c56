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

/// How a record's value bytes are encoded (compression). Defined now so that the format
/// need not change when compression lands: a record names its codec; when it is not `none`
/// the value bytes are the decoded length (u64) followed by the codec's stream.
enum ValueCodec: UInt8 {
    case none = 0
    case zlib = 1
    case lz4 = 2
    case zstd = 3
}

/// Where a record is bound: the log's random salt and the record's offset in it. Both are
/// mixed into the checksum, so a record copied elsewhere (embedded in a value, left over from
/// another segment, another log's record at the same offset) never verifies where it lies.
struct RecordPlace {
    var salt: UInt64
    var offset: Int64

    @inline(__always)
    init(salt: UInt64, offset: Int64) {
        self.salt = salt
        self.offset = offset
    }

    /// The checksum's starting value: CRC32C of salt and offset (little-endian).
    @inline(__always)
    var seed: UInt32 {
        var words = (salt.littleEndian, UInt64(bitPattern: offset).littleEndian)
        return withUnsafeBytes(of: &words) { dcs_crc32c(0, $0.baseAddress!, 16) }
    }
}

/// What a look at the bytes at some place found.
enum RecordCheck {
    /// An intact record of this format.
    case record(RecordHeader)
    /// Torn, rotten, not a record, or not a record of this place.
    case damaged
    /// An intact record written by a newer format (its version or kind is unknown here).
    case newer(version: UInt8, kind: UInt8)
}

/// The fixed 64-byte header every record starts with (little-endian):
///
///     0 magic u32 | 4 crc32c u32 | 8 length u32
///     12 version u8 | 13 kind u8 | 14 flags u8 | 15 value codec u8
///     16 key kind u8 | 17 value kind u8 | 18 tag kind u8 | 19 authentication tag length u8
///     20 key length u32 | 24 tag length u32 | 28 value length u32
///     32 rowid i64 | 40 store time f64 | 48 expire time f64 (NaN = never) | 56 aux u64
///     64 key bytes, tag bytes, value bytes, authentication tag bytes
///
/// The checksum is CRC32C over bytes 8..<length, started from the record's place
/// (`RecordPlace.seed`). The magic is the same in every version; a later version keeps the
/// first 20 bytes and the checksum rule, so an older reader can tell a newer record from
/// damage. The authentication tag (an HMAC over the record, for caches whose readers must not
/// trust the writers) is optional: length 0 when absent.
struct RecordHeader {
    static let size = 64
    static let magic: UInt32 = 0x5243_4344  // "DCCR"
    static let version: UInt8 = 2
    /// Keys, tags and inline values must fit the u32 length fields with room to spare.
    static let maxPartLength = 1 << 30

    var kind: RecordKind
    var flags: UInt8 = 0
    var codec: ValueCodec = .none
    var keyKind: UInt8 = 0
    var valueKind: UInt8 = 0
    var tagKind: UInt8 = 0
    var authLength: Int = 0
    var keyLength: Int = 0
    var tagLength: Int = 0
    var valueLength: Int = 0
    var rowid: Int64 = 0
    var storeTime: Double = 0
    var expireTime: Double = .nan
    var aux: UInt64 = 0

    var totalLength: Int { RecordHeader.size + keyLength + tagLength + valueLength + authLength }
    var keyOffset: Int { RecordHeader.size }
    var tagOffset: Int { RecordHeader.size + keyLength }
    var valueOffset: Int { RecordHeader.size + keyLength + tagLength }
    var authOffset: Int { RecordHeader.size + keyLength + tagLength + valueLength }
    var isExternal: Bool { flags & RecordFlags.external != 0 }

    init(kind: RecordKind) { self.kind = kind }

    /// Appends a complete record (header, parts, checksum) to `buffer`, bound to the place it
    /// will have: `base` is the log offset of `buffer[0]`.
    static func append(
        _ header: RecordHeader, key: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer,
        value: UnsafeRawBufferPointer, to buffer: inout [UInt8], salt: UInt64, base: Int64
    ) {
        var h = header
        h.keyLength = key.count
        h.tagLength = tag.count
        h.valueLength = value.count
        h.authLength = 0
        let start = buffer.count
        let total = h.totalLength
        let place = RecordPlace(salt: salt, offset: base + Int64(start))
        buffer.append(contentsOf: repeatElement(0, count: total))
        buffer.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress! + start
            p.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt32.self)
            p.storeBytes(of: UInt32(total).littleEndian, toByteOffset: 8, as: UInt32.self)
            p.storeBytes(of: version, toByteOffset: 12, as: UInt8.self)
            p.storeBytes(of: h.kind.rawValue, toByteOffset: 13, as: UInt8.self)
            p.storeBytes(of: h.flags, toByteOffset: 14, as: UInt8.self)
            p.storeBytes(of: h.codec.rawValue, toByteOffset: 15, as: UInt8.self)
            p.storeBytes(of: h.keyKind, toByteOffset: 16, as: UInt8.self)
            p.storeBytes(of: h.valueKind, toByteOffset: 17, as: UInt8.self)
            p.storeBytes(of: h.tagKind, toByteOffset: 18, as: UInt8.self)
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
            let crc = dcs_crc32c(place.seed, p + 8, total - 8)
            p.storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self)
        }
    }

    /// Appends a record again (compaction), bound to a new place, with its header's fields
    /// (expire time, aux) as the view holds them.
    static func append(_ r: RecordView, to buffer: inout [UInt8], salt: UInt64, base: Int64) {
        append(r.header, key: r.key, tag: r.tag, value: r.value, to: &buffer, salt: salt, base: base)
    }

    /// Reads the length a record claims from its first 12 bytes, or nil if the magic is wrong.
    static func claimedLength(_ p: UnsafeRawBufferPointer) -> Int? {
        guard p.count >= 12 else { return nil }
        let magic = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard magic == RecordHeader.magic else { return nil }
        let length = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        return length >= size ? length : nil
    }

    /// Decodes and verifies a whole record at `place`; nil if it is torn, rotten, malformed,
    /// not of this place, or of a newer format.
    @inline(__always)
    static func decode(_ p: UnsafeRawBufferPointer, at place: RecordPlace) -> RecordHeader? {
        if case .record(let h) = check(p, at: place) { return h }
        return nil
    }

    /// Decodes and verifies a whole record at `place`, telling damage from a newer format.
    static func check(_ p: UnsafeRawBufferPointer, at place: RecordPlace) -> RecordCheck {
        guard let length = claimedLength(p), length <= p.count else { return .damaged }
        let crc = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        guard dcs_crc32c(place.seed, p.baseAddress! + 8, length - 8) == crc else { return .damaged }
        let version = p[12]
        guard version == RecordHeader.version, let kind = RecordKind(rawValue: p[13]) else {
            return version >= RecordHeader.version ? .newer(version: version, kind: p[13]) : .damaged
        }
        guard let codec = ValueCodec(rawValue: p[15]) else { return .newer(version: version, kind: p[13]) }
        var h = RecordHeader(kind: kind)
        h.flags = p[14]
        h.codec = codec
        h.keyKind = p[16]
        h.valueKind = p[17]
        h.tagKind = p[18]
        h.authLength = Int(p[19])
        h.keyLength = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 20, as: UInt32.self)))
        h.tagLength = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt32.self)))
        h.valueLength = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 28, as: UInt32.self)))
        h.rowid = Int64(littleEndian: p.loadUnaligned(fromByteOffset: 32, as: Int64.self))
        h.storeTime = Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 40, as: UInt64.self)))
        h.expireTime = Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 48, as: UInt64.self)))
        h.aux = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 56, as: UInt64.self))
        guard h.totalLength == length else { return .damaged }
        // Numeric keys are 8 bytes (the engine never writes others; readers load 8 bytes).
        if h.keyKind == ItemKind.int.rawValue || h.keyKind == ItemKind.float.rawValue {
            guard h.keyLength == 8 else { return .damaged }
        }
        return .record(h)
    }
}

/// A verified record: its header and exactly its bytes. Its parts are slices of those bytes,
/// in range by construction (the header's lengths add up to the byte count), so no reader
/// cuts a record by hand.
struct RecordView {
    /// Mutable for the fields the index knows better (a later `touch` changes the expire time).
    var header: RecordHeader
    let bytes: UnsafeRawBufferPointer

    /// `bytes` must start with the record; nil if they do not hold all of it.
    @inline(__always)
    init?(_ header: RecordHeader, _ bytes: UnsafeRawBufferPointer) {
        guard header.totalLength <= bytes.count else { return nil }
        self.header = header
        self.bytes = UnsafeRawBufferPointer(rebasing: bytes[0..<header.totalLength])
    }

    /// Verifies the record at the start of `bytes`, bound to `place`.
    @inline(__always)
    init?(decoding bytes: UnsafeRawBufferPointer, at place: RecordPlace) {
        guard let h = RecordHeader.decode(bytes, at: place) else { return nil }
        self.init(h, bytes)
    }

    @inline(__always)
    private func part(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    var key: UnsafeRawBufferPointer { part(header.keyOffset, header.keyLength) }
    var tag: UnsafeRawBufferPointer { part(header.tagOffset, header.tagLength) }
    var value: UnsafeRawBufferPointer { part(header.valueOffset, header.valueLength) }
    var authenticationTag: UnsafeRawBufferPointer { part(header.authOffset, header.authLength) }

    /// The value file reference of an external value (nil if it is not one or is malformed).
    var externalValue: ExternalValue? { header.isExternal ? ExternalValue(value) : nil }
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
