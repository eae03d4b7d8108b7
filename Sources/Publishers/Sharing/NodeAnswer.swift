/// A node's answer to a request another node was asked for and handed to the others, which it
/// waits on (`NodeAnswers`): a removal (`UserRemovalAnswer`, `SessionRemovalAnswer`) or a lookup
/// (`SessionLookupAnswer`).
public protocol NodeAnswer: Sendable, Hashable {
    /// The request's id.
    var requestID: String { get }
    /// The node asked, the one the answer is for.
    var askedOn: String { get }
    /// The node answering.
    var node: String { get }
}
