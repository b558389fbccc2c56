/// An absolute expire time: seconds since the Unix epoch (1970-01-01 UTC) by the system's
/// real-time clock. It means the same instant to every process and host sharing a cache, which
/// `ContinuousClock` and `SuspendingClock` instants (counted from each machine's boot) do not;
/// python-diskcache's `expire_time` is the same number.
///
/// For example:
///
///     try cache.set("k", text: "v", expires: .after(.seconds(30)))
///     let left = try cache.get("k")?.expires?.remaining   // about 30 s
public struct ExpiryTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Seconds since the Unix epoch.
    public var secondsSince1970: Double

    /// The instant `secondsSince1970` seconds after the Unix epoch.
    public init(secondsSince1970: Double) { self.secondsSince1970 = secondsSince1970 }

    /// The current time.
    public static var now: ExpiryTime { ExpiryTime(secondsSince1970: wallClock()) }

    /// `ttl` from now.
    public static func after(_ ttl: Duration) -> ExpiryTime { now.advanced(by: ttl) }

    /// This instant moved by `duration`.
    public func advanced(by duration: Duration) -> ExpiryTime {
        ExpiryTime(secondsSince1970: secondsSince1970 + duration.seconds)
    }

    /// The time from now until this instant (negative once past).
    public var remaining: Duration { .seconds(secondsSince1970 - wallClock()) }

    /// Whether this instant has passed.
    public var isPast: Bool { secondsSince1970 <= wallClock() }

    /// Whether `a` comes before `b`.
    public static func < (a: ExpiryTime, b: ExpiryTime) -> Bool { a.secondsSince1970 < b.secondsSince1970 }

    /// The instant in UTC, `2026-11-30T16:20:00.250Z`.
    public var description: String {
        let total = secondsSince1970.rounded(.down)
        let millis = Int(((secondsSince1970 - total) * 1000).rounded(.down))
        var days = Int(total) / 86400
        var rest = Int(total) - days * 86400
        if rest < 0 { rest += 86400; days -= 1 }
        // Civil date from days since the epoch (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(year)-\(two(month))-\(two(day))T\(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60)).\(ms)Z"
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) * 1e-18
    }
}
