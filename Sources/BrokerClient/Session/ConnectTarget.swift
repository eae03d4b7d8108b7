import Foundation

/// The URL of one connection attempt: the endpoint plus resume and token parameters, and the
/// resume token's header when it goes there.
struct ConnectTarget: Equatable {
    /// The session to resume and the position to replay from; nil opens a fresh session.
    var resume: (clientID: String, since: UInt64?)?
    /// A token to put in the query.
    var queryToken: String?
    /// The resumed session's resume token (from its `connected`), sent with `resume`.
    var resumeToken: String? = nil
    /// Whether the resume token goes in the query (`resume_token`, as the client token does with
    /// `TokenPlacement.queryParameter`) rather than the `Brokerd-Resume-Token` header.
    var resumeTokenInQuery = true

    /// The header that carries the resume token when it does not go in the query.
    static let resumeTokenHeader = "Brokerd-Resume-Token"

    static func == (lhs: ConnectTarget, rhs: ConnectTarget) -> Bool {
        lhs.resume?.clientID == rhs.resume?.clientID && lhs.resume?.since == rhs.resume?.since && lhs.queryToken == rhs.queryToken
            && lhs.resumeToken == rhs.resumeToken && lhs.resumeTokenInQuery == rhs.resumeTokenInQuery
    }

    /// The `Brokerd-Resume-Token` header's value: the resume token of a resume, when it does not go
    /// in the query.
    var resumeTokenHeaderValue: String? {
        resume == nil || resumeTokenInQuery ? nil : resumeToken
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
            if let resumeToken, resumeTokenInQuery { items.append(URLQueryItem(name: "resume_token", value: resumeToken)) }
        }
        if let queryToken { items.append(URLQueryItem(name: "token", value: queryToken)) }
        components.queryItems = items.isEmpty ? nil : items
        return components.string ?? base
    }
}
