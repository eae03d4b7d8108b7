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
    /// unless signatures are required, carry no signature.
    let secrets: SharedSecrets
    let delivery: TickBatchDelivery
    /// With a shared secret: refuses an entry whose signed message was read before, or was signed
    /// more than 30 s from the entry's time (a node appends what it signs at once).
    let replays = ReplayGuard()

    func take(_ entries: [RedisStreamReader.Entry], retrying control: ReaderThreadControl) -> Bool {
        let checking = secrets.now
        for entry in entries {
            var update: SharedUpdate?
            var own = false
            // An entry refused for its signature or as a copy, like a malformed one, counts only by
            // its position.
            do {
                if let message = try accepted(entry, checking: checking) {
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

    /// The entry's message when it may be taken: signed as a shared secret asks, and no copy of
    /// one read before; nil (reported) when not.
    private func accepted(_ entry: RedisStreamReader.Entry, checking: SharedSecrets.Current) throws(SharedMessageError) -> SharedMessageCodec.Message? {
        guard let (fields, signature) = verified(entry, checking: checking) else { return nil }
        let message = try SharedMessageCodec.decodeLogEntry(fields, log: log, now: WallClock.microsecondsNow())
        if case .signed(let stamp) = signature,
            !isNew(entry, signedWith: stamp, by: message.origin, requiringStamps: checking.requiresSignatures)
        {
            return nil
        }
        return message
    }

    /// How an entry's message was signed.
    enum Signature {
        case none
        /// With the shared secret, and this stamp (nil: by a build before stamps).
        case signed(SharedMessageSigner.Stamp?)
    }

    /// The entry's fields with its message's signature and stamp checked and taken off; nil
    /// (reported) when a secret is set and the message is not signed with it (signed with another
    /// secret, or not at all while signatures are required). Without a secret, the fields as read.
    private func verified(
        _ entry: RedisStreamReader.Entry, checking: SharedSecrets.Current
    ) -> (fields: [String: String], signature: Signature)? {
        guard let signer = checking.signer, let message = entry.fields["message"] else { return (entry.fields, .none) }
        switch signer.verify(Array(message.utf8)) {
        case .signed(let body, let stamp):
            return (Self.fields(of: entry, message: body), .signed(stamp))
        case .unsigned where !checking.requiresSignatures:
            return (entry.fields, .none)
        case .unsigned:
            delivery.reportUnsigned("\(log) entry \(entry.id): not signed")
            return nil
        case .forged:
            delivery.reportUnsigned("\(log) entry \(entry.id): signed with another secret, or changed since")
            return nil
        }
    }

    /// The entry's fields with `body` (its message without signature and stamp) as the message.
    private static func fields(of entry: RedisStreamReader.Entry, message body: [UInt8]) -> [String: String] {
        var fields = entry.fields
        fields["message"] = String(decoding: body, as: UTF8.self)
        return fields
    }

    /// When Redis appended the entry, by its id (UTC microseconds).
    private static func appendedAt(_ entry: RedisStreamReader.Entry) -> Int64 {
        let milliseconds = StreamID(entry.id)?.milliseconds ?? 0
        return milliseconds > UInt64(Int64.max / 1_000) ? Int64.max : Int64(milliseconds) * 1_000
    }

    /// Whether the entry's message is no copy: its stamp not read before, and within 30 s of the
    /// entry's time (its id's milliseconds, Redis' clock when it was appended: a copy appended
    /// later cannot have an id from before the log's newest). Reported when it is a copy.
    private func isNew(
        _ entry: RedisStreamReader.Entry, signedWith stamp: SharedMessageSigner.Stamp?, by origin: NodeOrigin?, requiringStamps: Bool
    ) -> Bool {
        delivery.admits(
            stamp, from: origin, at: Self.appendedAt(entry), checkedBy: replays,
            requiringStamps: requiringStamps, in: "\(log) entry \(entry.id)")
    }

    /// With a secret, the last minute before where reading resumes: a copy of an entry this
    /// process read before it started (under 30 s old, so not refused for its age) is known as one.
    /// A minute, as an entry's time (Redis' clock) may be up to 30 s from its stamp (the node's).
    var recallSpan: Duration? { secrets.now.signer == nil ? nil : .seconds(60) }

    /// Marks the stamps of entries this node took before it started (`recallSpan`), so their
    /// copies appended again are refused. Nothing is taken, reported or counted.
    func recall(_ entries: [RedisStreamReader.Entry]) {
        guard let signer = secrets.now.signer else { return }
        for entry in entries {
            guard let message = entry.fields["message"], case .signed(let body, let stamp?) = signer.verify(Array(message.utf8)),
                let origin = try? SharedMessageCodec.decodeLogEntry(Self.fields(of: entry, message: body), log: log, now: WallClock.microsecondsNow()).origin
            else { continue }
            _ = replays.admit(stamp, from: origin.instance, at: Self.appendedAt(entry))
        }
    }

    func pin(_ position: String, retrying control: ReaderThreadControl) -> Bool {
        delivery.hand(logged: nil, own: false, position: position, retrying: control)
    }
}
