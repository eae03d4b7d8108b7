import Foundation

/// The URL of one connection attempt: the endpoint plus resume and token parameters.
struct ConnectTarget: Equatable {
    /// The session to resume and the position to replay from; nil opens a fresh session.
    var resume: (clientID: String, since: UInt64?)?
    /// A token to put in the query.
    var queryToken: String?

    static func == (lhs: ConnectTarget, rhs: ConnectTarget) -> Bool {
        lhs.resume?.clientID == rhs.resume?.clientID && lhs.resume?.since == rhs.resume?.since && lhs.queryToken == rhs.queryToken
    }

    /// `base` with `resume`, `since` and `token` added to what its query already has.
    func url(base: String) -> String {
        guard var components = URLComponents(string: base) else { return base }
        var items = components.queryItems ?? []
        let ours: Set = ["resume", "since", "token"]
        items.removeAll { ours.contains($0.name) }
        if let resume {
            items.append(URLQueryItem(name: "resume", value: resume.clientID))
            if let since = resume.since { items.append(URLQueryItem(name: "since", value: String(since))) }
        }
        if let queryToken { items.append(URLQueryItem(name: "token", value: queryToken)) }
        components.queryItems = items.isEmpty ? nil : items
        return components.string ?? base
    }
}
