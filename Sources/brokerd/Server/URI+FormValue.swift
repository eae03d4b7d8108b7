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
