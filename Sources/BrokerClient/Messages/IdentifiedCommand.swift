/// A command as it goes out: with the request id the broker echoes in every direct reply to it.
///
/// Subscribe and unsubscribe requests are numbered from 1 on each connection by the
/// `SubscriptionPacer`, which matches replies to them by it. Every other command carries
/// `untrackedID`: a broker that knows ids answers it with an id no paced request has, so a refused
/// alert request or a rate-limited ping is never taken for the answer to a subscription request.
struct IdentifiedCommand: Sendable, Hashable {
    /// The id of every command the pacer does not track.
    static let untrackedID: UInt64 = 0

    let command: ClientCommand
    let id: UInt64

    /// `command` with the id of commands the pacer does not track.
    static func untracked(_ command: ClientCommand) -> IdentifiedCommand {
        IdentifiedCommand(command: command, id: untrackedID)
    }

    /// The JSON text of the message.
    var json: String { command.json(id: id) }
}
