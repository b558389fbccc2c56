import CDiskCacheSupport

/// The header of a network-mode batch file (`b-<N>.dcb`), followed by records exactly as in
/// a segment. Layout (little-endian):
///
///     0 magic u64 | 8 batch number u64 | 16 flags u32 | 20 format version u32
///     24 logical start u64 | 32 payload length u64 | 40 checkpoint count u64
///     48 generation salt u64 | 56 zero u32 | 60 crc32c u32 over bytes 0..<60 and the payload
struct BatchHeader: Equatable {
    static let size = 64
    static let magic: UInt64 = 0x4843_5441_4243_4344  // "DCBCTACH"
    static let version: UInt32 = 2
    /// The batch starts a generation holding the whole live state (logical offsets from 0).
    static let checkpointFlag: UInt32 = 1

    var number: UInt64
    var flags: UInt32
    var version: UInt32 = BatchHeader.version
    var start: UInt64
    var length: UInt64
    var checkpoint: UInt64
    var salt: UInt64

    var isCheckpoint: Bool { flags & BatchHeader.checkpointFlag != 0 }

    /// The header's bytes; `payloadCRC` is the CRC32C of the payload (`length` bytes).
    func encoded(payloadCRC: UInt32) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: BatchHeader.size)
        out.withUnsafeMutableBytes { p in
            p.storeBytes(of: BatchHeader.magic.littleEndian, toByteOffset: 0, as: UInt64.self)
            p.storeBytes(of: number.littleEndian, toByteOffset: 8, as: UInt64.self)
            p.storeBytes(of: flags.littleEndian, toByteOffset: 16, as: UInt32.self)
            p.storeBytes(of: version.littleEndian, toByteOffset: 20, as: UInt32.self)
            p.storeBytes(of: start.littleEndian, toByteOffset: 24, as: UInt64.self)
            p.storeBytes(of: length.littleEndian, toByteOffset: 32, as: UInt64.self)
            p.storeBytes(of: checkpoint.littleEndian, toByteOffset: 40, as: UInt64.self)
            p.storeBytes(of: salt.littleEndian, toByteOffset: 48, as: UInt64.self)
            let crc = dcs_crc32c(payloadCRC, p.baseAddress!, 60)
            p.storeBytes(of: crc.littleEndian, toByteOffset: 60, as: UInt32.self)
        }
        return out
    }

    /// The header of a whole batch file's bytes; nil unless the magic is right, the length
    /// matches and (`verifying`) the checksum over header and payload holds.
    static func decode(_ bytes: [UInt8], verifying: Bool = true) -> BatchHeader? {
        guard bytes.count >= size else { return nil }
        return bytes.withUnsafeBytes { p -> BatchHeader? in
            guard UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) == magic else { return nil }
            let length = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
            guard length == UInt64(bytes.count - size) else { return nil }
            if verifying {
                let payloadCRC = dcs_crc32c(0, p.baseAddress! + size, bytes.count - size)
                guard dcs_crc32c(payloadCRC, p.baseAddress!, 60) == UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 60, as: UInt32.self)) else { return nil }
            }
            return BatchHeader(number: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                               flags: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt32.self)),
                               version: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 20, as: UInt32.self)),
                               start: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)),
                               length: length,
                               checkpoint: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 40, as: UInt64.self)),
                               salt: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 48, as: UInt64.self)))
        }
    }
}
