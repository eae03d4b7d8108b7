import Broker
import Foundation
import HummingbirdCore

extension URI {
    /// The value of query parameter `name` as HTML forms, `URLSearchParams` and Python's
    /// `urlencode` write it: `+` is a space, `%XX` a byte (Hummingbird's `queryParameters` keeps
    /// `+`, so `?strategy=量能+wave` asked for a strategy nobody has). The first one when repeated;
    /// nil when absent; a value whose percent-encoding is broken comes back as it was sent.
    func formValue(_ name: String) -> String? {
        guard let query else { return nil }
        for pair in query.split(separator: "&") {
            let equals = pair.firstIndex(of: "=")
            guard Self.formDecoded(pair[..<(equals ?? pair.endIndex)]) == name else { continue }
            return equals.map { Self.formDecoded(pair[pair.index(after: $0)...]) } ?? ""
        }
        return nil
    }

    private static func formDecoded(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}

extension URI {
    /// `?<name>=` as a stock code; nil when absent; refused (400 `invalid_code`) when it is not one.
    func codeValue(_ name: String = "code") throws -> String? {
        guard let code = formValue(name) else { return nil }
        guard FieldRules.isValidCode(code) else {
            throw APIError.badRequest("invalid_code", "\(MarketDataReads.quoted(code)) is not a code: use 1-16 letters, digits or dots")
        }
        return code
    }

    /// `?offset=` as a whole number from 0 to `max`; 0 when absent; refused (400 `invalid_offset`)
    /// otherwise.
    func offsetValue(max: Int) throws -> Int {
        guard let offset = formValue("offset") else { return 0 }
        guard let value = Int(offset), (0...max).contains(value) else {
            throw APIError.badRequest(
                "invalid_offset", "offset must be a whole number from 0 to \(max), got \(MarketDataReads.quoted(offset))")
        }
        return value
    }

    /// `?limit=` as a whole number from 1 to `max` (`what` says what the bound is, when it is not
    /// obvious); nil when absent; refused (400 `invalid_limit`) otherwise.
    func limitValue(max: Int, what: String = "") throws -> Int? {
        guard let limit = formValue("limit") else { return nil }
        guard let value = Int(limit), (1...max).contains(value) else {
            throw APIError.badRequest(
                "invalid_limit", "limit must be a whole number from 1 to \(max)\(what), got \(MarketDataReads.quoted(limit))")
        }
        return value
    }
}
