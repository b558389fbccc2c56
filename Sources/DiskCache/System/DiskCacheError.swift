import SystemPackage

/// The one error type the engine throws. Messages name the operation and the path.
public struct DiskCacheError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is; grows without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Value: Hashable, Sendable {
            case io, notADirectory, corrupt, notNumeric, keyTooLarge, invalidArgument, closed, timeout, keyExists, unsupportedFormat, inTransaction, readOnly, wouldBlock
        }
        let value: Value
        /// A system call failed (see `errno`).
        public static let io = Code(value: .io)
        /// The cache path exists and is not a directory.
        public static let notADirectory = Code(value: .notADirectory)
        /// Stored data failed its checksum or is malformed.
        public static let corrupt = Code(value: .corrupt)
        /// `incr` on a value that is not a number.
        public static let notNumeric = Code(value: .notNumeric)
        /// A key, tag or inline value exceeds the record format's limits.
        public static let keyTooLarge = Code(value: .keyTooLarge)
        /// An argument is out of range (unknown policy, bad side ...).
        public static let invalidArgument = Code(value: .invalidArgument)
        /// The cache was closed.
        public static let closed = Code(value: .closed)
        /// `push` computed a key that is already taken (python-diskcache: IntegrityError).
        public static let keyExists = Code(value: .keyExists)
        /// A lock could not be taken within the timeout.
        public static let timeout = Code(value: .timeout)
        /// A file in the directory was written by a newer format version than this build
        /// reads. Nothing was changed: open it with a newer version.
        public static let unsupportedFormat = Code(value: .unsupportedFormat)
        /// Not allowed while the calling thread has a transaction open (`close`).
        public static let inTransaction = Code(value: .inTransaction)
        /// A write to a cache opened read-only (`DiskCache(directory:readOnly: true)`).
        /// Nothing was changed.
        public static let readOnly = Code(value: .readOnly)
        /// The call would have waited and was made in "attempt without waiting" mode
        /// (`DiskCache.withoutWaiting`): it had no effect; make it again outside the mode.
        public static let wouldBlock = Code(value: .wouldBlock)
        /// The code's name (`timeout`, `io` ...).
        public var description: String { "\(value)" }
    }

    /// What kind of failure it is: compare with the `Code` constants.
    ///
    ///     catch let e as DiskCacheError where e.code == .timeout { ... }
    public var code: Code
    /// What failed, naming the operation and the path.
    public var message: String
    /// The errno of the failed system call, if any.
    public var errno: Errno?

    /// An error of kind `code`; `message` names the operation and the path.
    public init(_ code: Code, _ message: String, errno: Errno? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    static func io(_ operation: String, _ path: String, _ errno: Errno) -> DiskCacheError {
        DiskCacheError(.io, "Could not \(operation) '\(path)': \(errno)", errno: errno)
    }

    static func io(_ operation: String, _ path: String, _ error: any Error) -> DiskCacheError {
        if let e = error as? DiskCacheError { return e }
        return io(operation, path, error as? Errno ?? .ioError)
    }

    /// The message.
    public var description: String { message }
}
