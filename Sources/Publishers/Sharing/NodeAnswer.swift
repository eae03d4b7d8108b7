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
    /// Which message of the node's answer this is, from 0: an answer too large for one message
    /// comes in parts, which the node asked joins (`joined`) once it has them all.
    var part: Int { get }
    /// How many messages the node's answer takes: 1 for one that fits in one.
    var parts: Int { get }
    /// The answer that `parts` make, in order; nil when they are not every part of one answer.
    static func joined(_ parts: [Self]) -> Self?
}

extension NodeAnswer {
    public var part: Int { 0 }
    public var parts: Int { 1 }
    public static func joined(_ parts: [Self]) -> Self? { parts.count == 1 ? parts.first : nil }
}
