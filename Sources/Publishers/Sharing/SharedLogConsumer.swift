import Journal

/// Hands the entries of the shared log to the broker one at a time, each with its position, in
/// the log's order: what every node applies in the same order converges to the same state.
///
/// Entries this node wrote itself (its `node_id`, from this process or an earlier one) are handed
/// over too, marked `own`: the broker journaled them when it took them, and applies them again
/// only where another node's update came between (see `Command.applyLogged`). A malformed entry is
/// counted and logged, and its position journaled alone.
struct SharedLogConsumer: StreamEntryConsumer {
    /// The log's stream name, for errors.
    let log: String
    /// This node; nil treats every entry as another node's.
    let node: NodeOrigin?
    /// The entries this process appended, to skip its own that it has superseded since.
    let ownEntries: OwnLogEntries?
    /// With a shared secret: every entry must be signed with it (only nodes write the log), or,
    /// unless `requiresSignatures`, carry no signature.
    let signer: SharedMessageSigner?
    let requiresSignatures: Bool
    let delivery: TickBatchDelivery

    func take(_ entries: [RedisStreamReader.Entry], retrying control: ReaderThreadControl) -> Bool {
        for entry in entries {
            var update: SharedUpdate?
            var own = false
            // An entry refused for its signature, like a malformed one, counts only by its position.
            do {
                if let fields = verified(entry) {
                    let message = try SharedMessageCodec.decodeLogEntry(fields, log: log, now: WallClock.microsecondsNow())
                    own = node != nil && message.origin?.node == node?.node
                    // Superseded by a later write of this process, read after it: only its position
                    // counts. (An earlier process's entries are not in this one's counts.)
                    let thisProcess = own && message.origin?.instance == node?.instance
                    update = thisProcess && ownEntries?.readBack(message.update) == true ? nil : message.update
                }
            } catch {
                delivery.reportMalformed(["entry \(entry.id): \(error.description)"])
            }
            guard delivery.hand(logged: update, own: own, position: entry.id, retrying: control) else { return false }
        }
        return true
    }

    /// The entry's fields with its message's signature checked and taken off; nil (reported) when
    /// a secret is set and the message is not signed with it (signed with another secret, or not
    /// at all while signatures are required). Without a secret, the fields as read.
    private func verified(_ entry: RedisStreamReader.Entry) -> [String: String]? {
        guard let signer, let message = entry.fields["message"] else { return entry.fields }
        switch signer.verify(Array(message.utf8)) {
        case .signed(let body):
            var fields = entry.fields
            fields["message"] = String(decoding: body, as: UTF8.self)
            return fields
        case .unsigned where !requiresSignatures:
            return entry.fields
        case .unsigned:
            delivery.reportUnsigned("\(log) entry \(entry.id): not signed")
            return nil
        case .forged:
            delivery.reportUnsigned("\(log) entry \(entry.id): signed with another secret, or changed since")
            return nil
        }
    }

    func pin(_ position: String, retrying control: ReaderThreadControl) -> Bool {
        delivery.hand(logged: nil, own: false, position: position, retrying: control)
    }
}
