import Foundation

/// When a client token is to be refreshed on its connection: read from the token's own `exp`
/// claim (not verified here: the broker does that; the client only needs to know when).
enum TokenExpiry {
    /// The `exp` of a JWT, or nil when `token` is not one or has no numeric `exp`.
    static func of(_ token: String) -> Date? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var base64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64),
            let claims = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let exp = claims["exp"] as? NSNumber, String(cString: exp.objCType) != "c"
        else { return nil }
        return Date(timeIntervalSince1970: exp.doubleValue)
    }

    /// When to ask for the next token, for one that expires at `expiry` and was taken at `takenAt`:
    /// `ahead` before its expiry, but never sooner than halfway through its life, so a token that
    /// lives shorter than `ahead` is not asked again and again.
    static func refreshMoment(expiry: Date, takenAt: Date, ahead: Duration) -> Date {
        let lifetime = max(0, expiry.timeIntervalSince(takenAt))
        return expiry.addingTimeInterval(-min(ahead.seconds, lifetime / 2))
    }
}
