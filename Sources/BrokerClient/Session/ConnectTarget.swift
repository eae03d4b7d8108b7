import Foundation

/// The URL of one connection attempt: the endpoint plus resume and token parameters.
struct ConnectTarget: Equatable {
    /// The session to resume and the position to replay from; nil opens a fresh session.
    var resume: (clientID: String, since: UInt64?)?
    /// A token to put in the query.
    var queryToken: String?
    /// The resumed session's resume token (from its `connected`), sent with `resume`.
    var resumeToken: String? = nil

    static func == (lhs: ConnectTarget, rhs: ConnectTarget) -> Bool {
        lhs.resume?.clientID == rhs.resume?.clientID && lhs.resume?.since == rhs.resume?.since && lhs.queryToken == rhs.queryToken
            && lhs.resumeToken == rhs.resumeToken
    }

    /// `base` with `resume`, `since`, `resume_token` and `token` added to what its query already has.
    func url(base: String) -> String {
        guard var components = URLComponents(string: base) else { return base }
        var items = components.queryItems ?? []
        let ours: Set = ["resume", "since", "resume_token", "token"]
        items.removeAll { ours.contains($0.name) }
        if let resume {
            items.append(URLQueryItem(name: "resume", value: resume.clientID))
            if let since = resume.since { items.append(URLQueryItem(name: "since", value: String(since))) }
            if let resumeToken { items.append(URLQueryItem(name: "resume_token", value: resumeToken)) }
        }
        if let queryToken { items.append(URLQueryItem(name: "token", value: queryToken)) }
        components.queryItems = items.isEmpty ? nil : items
        return components.string ?? base
    }
}
