/// Something `check` found.
public struct CheckFinding: Sendable, CustomStringConvertible {
    /// What kind of problem it is.
    public enum Kind: Sendable {
        /// A stretch of the log that fails its checksum.
        case damagedRecord
        /// An item whose value file is missing, of the wrong size or fails its checksum.
        case damagedValueFile
        /// A file in the directory that no item refers to.
        case unknownFile
        /// An empty directory among the value directories.
        case emptyDirectory
        /// The index and a fresh replay of the log disagree.
        case countMismatch
        /// The last automatic compaction failed (the writes that triggered it committed).
        case compactionFailed
    }
    /// What kind of problem it is.
    public var kind: Kind
    /// A sentence naming the problem and where it is.
    public var message: String
    /// The path concerned, if any.
    public var path: String?
    /// Whether `check(fix: true)` repaired it.
    public var fixed: Bool

    /// The message.
    public var description: String { message }
}
