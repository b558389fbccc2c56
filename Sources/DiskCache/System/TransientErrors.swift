#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// Retries an operation that network filesystem clients fail transiently (SMB: EIO, EBUSY
/// right after a close reaches the server late).
func retryingTransient<T>(_ body: () throws(Errno) -> T) throws(Errno) -> T {
    var pause: UInt32 = 1000
    var attempt = 0
    while true {
        do {
            return try Blocking.wait(body)
        } catch {
            attempt += 1
            guard attempt < 6, error == .ioError || error == .resourceBusy || error == .resourceTemporarilyUnavailable else { throw error }
            _ = Blocking.wait { usleep(pause) }
            pause *= 2
        }
    }
}

/// Seconds on a clock that never jumps (for leases: no other host's clock is involved).
func monotonicClock() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// `FileDescriptor.open` with its error typed (swift-system declares it untyped).
func openFile(_ path: String, _ mode: FileDescriptor.AccessMode, options: FileDescriptor.OpenOptions, permissions: FilePermissions? = nil) throws(Errno) -> FileDescriptor {
    do {
        return try FileDescriptor.open(FilePath(path), mode, options: options, permissions: permissions)
    } catch {
        throw error as? Errno ?? .ioError
    }
}

func readSome(_ fd: FileDescriptor, _ buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
    do {
        return try fd.read(into: buffer)
    } catch {
        throw error as? Errno ?? .ioError
    }
}
