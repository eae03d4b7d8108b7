import Broker
import Foundation

/// The JSON that nodes publish on the shared channels, and its decoding on the receiving side.
///
/// Every message names its origin (`node`, `instance`), so the origin can skip its own echo:
///
/// - ticks (`<channel>`): `{"node","instance","ticks":[{"code","name","price","volume","prev_close","timestamp"}]}`,
///   the shape external feeders already use plus the tags (read by `TickPayloadDecoder`);
/// - news (`<channel>:news`): `{"node","instance","news":{"id","title","summary","url","codes","category","published_at"}}`;
/// - alert rules (`<channel>:alerts`): `{"node","instance","set":{"id","user","code","condition","threshold"}}`
///   or `{"node","instance","removed":{"rule_id","user"}}`;
/// - signal lists (`<channel>:signals`): `{"node","instance","strategy","signals":[{"code","name","signal_date","reason"}]}`;
/// - k-line bars (`<channel>:klines`): `{"node","instance","klines":[{"code","period","open","high","low","close","volume","start","closed"}]}`;
/// - a user's removal (`<channel>:removals`): `{"node","instance","remove_user":{"user","session":"end"|"keep","requested_at","request_id"}}`,
///   and a node's answer to one: `{"node","instance","removed_user":{"request_id","asked_on","user","clients":[…],"error"}}`;
///   a session's removal (same channel): `{"node","instance","remove_client":{"client_id","session","requested_at","request_id"}}`,
///   and a node's answer to one: `{"node","instance","removed_client":{"request_id","asked_on","client_id","removed","refused"}}`
///   (`removed`: `{"user","disconnected","session_ended","seq"}`, `refused`: `{"status","error","details"}`, neither from a
///   node without the session); a session's lookup (same channel): `{"node","instance","find_client":{"client_id","request_id"}}`,
///   and a node's answer: `{"node","instance","found_client":{"request_id","asked_on","client_id","body","error"}}`
///   (`body`: the session as the node's `GET /api/websocket/clients/{client_id}` answers it, as a string; neither from a
///   node without it); a user's connections, `find_user` and `found_user`, the same with `user` for `client_id` (`body`:
///   as the node's `GET /api/websocket/clients?user=` answers it); every connection, `find_connections` and
///   `found_connections`, with neither (`body`: as the node's `GET /api/websocket/clients` answers it; `first`
///   in `find_connections`, when only a page is wanted: the node's oldest `first` rows, and `count` all of them;
///   `"subscriptions":"count"` in `find_connections` or `find_user`: each row with `subscription_count`, not the list); a target's
///   subscribers, `find_subscribers` and
///   `found_subscribers`, with `type` (optional) and `target` (`body`: as the node's
///   `GET /api/websocket/subscriptions?type=&target=` answers it); every subscription, `find_subscriptions` and
///   `found_subscriptions`, with `type` (optional; `body`: as the node's `GET /api/websocket/subscriptions?type=`
///   answers it, every row); an answer whose `body` is longer than 1 MiB goes in up to 16 messages, each with
///   `part` (from 0), `parts` and a consecutive piece of `body`, which the node asked joins;
/// - a node's heartbeat (`<channel>:nodes`): `{"node","instance","heartbeat":{"state","connections","sessions","ticks_per_second","journal_seq","started_at","sent_at"}}`.
///
/// Timestamps are UTC microseconds. Untagged news, alert, signal and k-line messages (from an
/// external feeder) are accepted too; then `published_at` may be left out and becomes the time of
/// receipt. A receiving node ingests them as commands, so the decider checks them as it checks
/// its own requests. An untagged removal (an operator's tool) is accepted as well, dated on
/// receipt when it has no `requested_at`; a heartbeat must name its node.
public enum SharedMessageCodec {
    /// A decoded news or alerts message.
    public struct Message: Sendable, Hashable {
        /// Who published it; nil for an external feeder.
        public var origin: NodeOrigin?
        /// What to ingest.
        public var update: SharedUpdate
    }

    /// The message body of `update` published by `origin`. A message that is also appended to the
    /// shared log names it in `log`: nodes that read the log skip its pub/sub copy, nodes of
    /// builds before the log (which ignore the key) ingest the copy. With a `signer`, the message
    /// is signed (its first key, `sig`).
    public static func encode(_ update: SharedUpdate, origin: NodeOrigin, log: String? = nil, signer: SharedMessageSigner? = nil) -> [UInt8] {
        let body = encodeUnlogged(update, origin: origin)
        guard let log, body.first == UInt8(ascii: "{"), body.count > 2,
            let name = try? JSONEncoder().encode(log)
        else { return signer?.sign(body) ?? body }
        let logged = [UInt8(ascii: "{")] + Array("\"log\":".utf8) + Array(name) + [UInt8(ascii: ",")] + body.dropFirst()
        return signer?.sign(logged) ?? logged
    }

    /// The fields of `update`'s entry in the shared log (`kind`, and `message`: its pub/sub
    /// message, signed with a `signer`); nil for ticks, which are not logged.
    public static func logEntry(
        _ update: SharedUpdate, origin: NodeOrigin, log: String, signer: SharedMessageSigner? = nil
    ) -> [(String, [UInt8])]? {
        guard let kind = LogKind(update) else { return nil }
        return [("kind", Array(kind.rawValue.utf8)), ("message", encode(update, origin: origin, log: log, signer: signer))]
    }

    /// What a shared-log entry carries, in its `kind` field.
    public enum LogKind: String, Sendable, CaseIterable {
        case news, alerts, signals, klines

        init?(_ update: SharedUpdate) {
            switch update {
            case .ticks, .userRemoved, .userRemovalAnswered, .sessionRemoved, .sessionRemovalAnswered, .sessionLookedUp, .sessionLookupAnswered,
                .nodeHeartbeat:
                return nil
            case .news: self = .news
            case .alertRuleSet, .alertRuleRemoved: self = .alerts
            case .signalsReplaced: self = .signals
            case .bars: self = .klines
            }
        }
    }

    /// Decodes an entry of the shared log `log` (its `kind` and `message` fields), as the message
    /// of that kind's channel is decoded.
    public static func decodeLogEntry(_ fields: [String: String], log: String, now: Int64) throws(SharedMessageError) -> Message {
        guard let kindName = fields["kind"], let kind = LogKind(rawValue: kindName) else {
            let kinds = LogKind.allCases.map(\.rawValue).joined(separator: ", ")
            throw SharedMessageError(channel: log, reason: "an entry needs a \"kind\" field, one of \(kinds); got \(fields["kind"].map { "\"\($0.prefix(32))\"" } ?? "none")")
        }
        guard let message = fields["message"] else {
            throw SharedMessageError(channel: log, reason: "a \(kind.rawValue) entry needs a \"message\" field")
        }
        let json = Array(message.utf8)
        return switch kind {
        case .news: try decodeNews(json, channel: log, now: now)
        case .alerts: try decodeAlerts(json, channel: log)
        case .signals: try decodeSignals(json, channel: log)
        case .klines: try decodeKlines(json, channel: log, now: now)
        }
    }

    /// Whether a pub/sub message says it is in the shared log too (has a `log` key).
    public static func isLogged(_ json: [UInt8]) -> Bool {
        struct Marker: Decodable { var log: String? }
        return (try? JSONDecoder().decode(Marker.self, from: Data(json)))?.log != nil
    }

    private static func encodeUnlogged(_ update: SharedUpdate, origin: NodeOrigin) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data: Data?
        switch update {
        case .ticks(let ticks):
            data = try? encoder.encode(TicksWire(node: origin.node, instance: origin.instance, ticks: ticks.map(TickWire.init)))
        case .news(let item):
            data = try? encoder.encode(NewsWire(node: origin.node, instance: origin.instance, news: NewsItemWire(item)))
        case .alertRuleSet(let rule):
            data = try? encoder.encode(AlertsWire(node: origin.node, instance: origin.instance, set: rule, removed: nil))
        case .alertRuleRemoved(let ruleID, let user):
            data = try? encoder.encode(
                AlertsWire(node: origin.node, instance: origin.instance, set: nil, removed: RemovedWire(ruleID: ruleID, user: user)))
        case .signalsReplaced(let strategy, let signals):
            data = try? encoder.encode(SignalsWire(node: origin.node, instance: origin.instance, strategy: strategy, signals: signals))
        case .bars(let bars):
            data = try? encoder.encode(KlinesWire(node: origin.node, instance: origin.instance, klines: bars))
        case .userRemoved(let removal):
            data = try? encoder.encode(RemovalsWire(node: origin.node, instance: origin.instance, removeUser: UserRemovalWire(removal)))
        case .userRemovalAnswered(let answer):
            data = try? encoder.encode(RemovalsWire(node: origin.node, instance: origin.instance, removedUser: RemovalAnswerWire(answer)))
        case .sessionRemoved(let removal):
            data = try? encoder.encode(RemovalsWire(node: origin.node, instance: origin.instance, removeClient: SessionRemovalWire(removal)))
        case .sessionRemovalAnswered(let answer):
            data = try? encoder.encode(
                RemovalsWire(node: origin.node, instance: origin.instance, removedClient: SessionRemovalAnswerWire(answer)))
        case .sessionLookedUp(let lookup):
            let wire: RemovalsWire =
                switch lookup.target {
                case .client(let clientID):
                    RemovalsWire(node: origin.node, instance: origin.instance, findClient: SessionLookupWire(clientID: clientID, requestID: lookup.requestID))
                case .user(let user):
                    RemovalsWire(
                        node: origin.node, instance: origin.instance,
                        findUser: SessionLookupWire(user: user, requestID: lookup.requestID, subscriptions: lookup.subscriptionsWire))
                case .connections:
                    RemovalsWire(
                        node: origin.node, instance: origin.instance,
                        findConnections: SessionLookupWire(requestID: lookup.requestID, first: lookup.first, subscriptions: lookup.subscriptionsWire))
                case .subscribers(let type, let target):
                    RemovalsWire(
                        node: origin.node, instance: origin.instance,
                        findSubscribers: SessionLookupWire(type: type?.rawValue, target: target, requestID: lookup.requestID))
                case .subscriptions(let type):
                    RemovalsWire(
                        node: origin.node, instance: origin.instance, findSubscriptions: SessionLookupWire(type: type?.rawValue, requestID: lookup.requestID))
                }
            data = try? encoder.encode(wire)
        case .sessionLookupAnswered(let answer):
            let found = SessionLookupAnswerWire(answer)
            let wire: RemovalsWire =
                switch answer.target {
                case .client: RemovalsWire(node: origin.node, instance: origin.instance, foundClient: found)
                case .user: RemovalsWire(node: origin.node, instance: origin.instance, foundUser: found)
                case .connections: RemovalsWire(node: origin.node, instance: origin.instance, foundConnections: found)
                case .subscribers: RemovalsWire(node: origin.node, instance: origin.instance, foundSubscribers: found)
                case .subscriptions: RemovalsWire(node: origin.node, instance: origin.instance, foundSubscriptions: found)
                }
            data = try? encoder.encode(wire)
        case .nodeHeartbeat(let heartbeat):
            data = try? encoder.encode(NodesWire(node: origin.node, instance: origin.instance, heartbeat: HeartbeatWire(heartbeat)))
        }
        // These wire types hold only strings, numbers and arrays of them: encoding cannot fail
        // except on a non-finite Double, which the decider never lets into an event.
        return data.map(Array.init) ?? Array("{}".utf8)
    }

    /// Decodes a message from the news channel; `now` stamps an untagged item without `published_at`.
    public static func decodeNews(_ json: [UInt8], channel: String, now: Int64) throws(SharedMessageError) -> Message {
        let wire = try decode(NewsWire.self, from: json, channel: channel, expected: "{\"news\":{\"title\",…}}")
        // As bars' starts are: seconds or milliseconds read as microseconds would date it in 1970.
        // (A node's items carry the time it stamped them with, as its HTTP route does.)
        if wire.node == nil, let publishedAt = wire.news.publishedAt, let problem = FieldRules.fedTimeProblem(publishedAt) {
            throw SharedMessageError(channel: channel, reason: "news: published_at \(publishedAt) \(problem)")
        }
        // Without an id, every node derives the same one from the message it received, so the
        // item is one item everywhere (and published twice, a duplicate).
        return Message(origin: origin(wire.node, wire.instance), update: .news(wire.news.item(now: now, defaultID: "news_" + fnv1a(json))))
    }

    /// Decodes a message from the alerts channel.
    public static func decodeAlerts(_ json: [UInt8], channel: String) throws(SharedMessageError) -> Message {
        let wire = try decode(
            AlertsWire.self, from: json, channel: channel,
            expected: "{\"set\":{\"id\",\"user\",\"code\",\"condition\",\"threshold\"}} or {\"removed\":{\"rule_id\",\"user\"}}")
        let update: SharedUpdate
        switch (wire.set, wire.removed) {
        case (let rule?, nil): update = .alertRuleSet(rule)
        case (nil, let removed?): update = .alertRuleRemoved(ruleID: removed.ruleID, user: removed.user)
        default: throw SharedMessageError(channel: channel, reason: "needs exactly one of \"set\" and \"removed\"")
        }
        return Message(origin: origin(wire.node, wire.instance), update: update)
    }

    /// Decodes a message from the signals channel.
    public static func decodeSignals(_ json: [UInt8], channel: String) throws(SharedMessageError) -> Message {
        let wire = try decode(SignalsWire.self, from: json, channel: channel, expected: "{\"strategy\",\"signals\":[{\"code\",…}]}")
        return Message(origin: origin(wire.node, wire.instance), update: .signalsReplaced(strategy: wire.strategy, signals: wire.signals))
    }

    /// Decodes a message from the k-lines channel; `now` is the clock an external feeder's bars
    /// may not start after (a node's were checked against its own).
    public static func decodeKlines(_ json: [UInt8], channel: String, now: Int64) throws(SharedMessageError) -> Message {
        let wire = try decode(
            KlinesWire.self, from: json, channel: channel,
            expected: "{\"klines\":[{\"code\",\"period\",\"open\",\"high\",\"low\",\"close\",\"volume\",\"start\",\"closed\"}]}")
        guard !wire.klines.isEmpty else { throw SharedMessageError(channel: channel, reason: "\"klines\" is empty") }
        let origin = origin(wire.node, wire.instance)
        // As `POST /api/klines` refuses it (nodes share only what they took; this is an external feeder's).
        for (index, bar) in wire.klines.enumerated() {
            if let problem = FieldRules.fedTimeProblem(bar.start) {
                throw SharedMessageError(channel: channel, reason: "klines[\(index)]: start \(bar.start) \(problem)")
            }
            if origin == nil, let problem = FieldRules.futureBarProblem(bar, now: now) {
                throw SharedMessageError(channel: channel, reason: "klines[\(index)]: \(problem)")
            }
        }
        return Message(origin: origin, update: .bars(wire.klines))
    }

    /// Decodes a message from the removals channel, an operator's requests about sessions: a user's
    /// or a session's removal (`now` dates an untagged one without `requested_at`), a session's
    /// lookup, or a node's answer to one of them; a lookup and an answer name their node.
    public static func decodeRemovals(_ json: [UInt8], channel: String, now: Int64) throws(SharedMessageError) -> Message {
        let wire = try decode(
            RemovalsWire.self, from: json, channel: channel,
            expected: "{\"remove_user\":{\"user\",\"session\":\"end\" or \"keep\"}}, {\"remove_client\":{\"client_id\",\"session\"}},"
                + " {\"node\",\"find_client\":{\"client_id\",\"request_id\"}}, {\"node\",\"find_user\":{\"user\",\"request_id\"}},"
                + " {\"node\",\"find_connections\":{\"request_id\"}}, {\"node\",\"find_subscribers\":{\"type\",\"target\",\"request_id\"}},"
                + " {\"node\",\"find_subscriptions\":{\"type\",\"request_id\"}} or a node's answer, {\"node\",\"removed_user\":{…}},"
                + " {\"node\",\"removed_client\":{…}}, {\"node\",\"found_client\":{…}}, {\"node\",\"found_user\":{…}},"
                + " {\"node\",\"found_connections\":{…}}, {\"node\",\"found_subscribers\":{…}} or {\"node\",\"found_subscriptions\":{…}}")
        let origin = origin(wire.node, wire.instance)
        // Named in the log lines of every node and in the answers: a node id, as a heartbeat's is.
        if let node = origin?.node, let problem = FieldRules.identifierProblem(node, maxLength: Limits().maxTargetLength) {
            throw SharedMessageError(channel: channel, reason: "node \(problem)")
        }
        let present = [wire.removeUser != nil, wire.removedUser != nil, wire.removeClient != nil, wire.removedClient != nil,
            wire.findClient != nil, wire.foundClient != nil, wire.findUser != nil, wire.foundUser != nil,
            wire.findSubscribers != nil, wire.foundSubscribers != nil, wire.findConnections != nil, wire.foundConnections != nil,
            wire.findSubscriptions != nil, wire.foundSubscriptions != nil,
        ].filter { $0 }.count
        guard present == 1 else {
            throw SharedMessageError(
                channel: channel,
                reason: "needs exactly one of \"remove_user\", \"removed_user\", \"remove_client\", \"removed_client\", \"find_client\","
                    + " \"found_client\", \"find_user\", \"found_user\", \"find_connections\", \"found_connections\", \"find_subscribers\","
                    + " \"found_subscribers\", \"find_subscriptions\" and \"found_subscriptions\"")
        }
        let update: SharedUpdate
        switch (wire.removeUser, wire.removedUser, wire.removeClient, wire.removedClient) {
        case (let removal?, nil, nil, nil):
            try checkRemoval(
                removal.requestID, removal.session, removal.requestedAt, target: ("user", removal.user), key: "remove_user", channel: channel)
            update = .userRemoved(
                UserRemoval(
                    user: removal.user, endingSessions: removal.session != "keep", requestedAt: removal.requestedAt ?? now,
                    requestedOn: origin?.node, requestID: removal.requestID))
        case (nil, nil, let removal?, nil):
            try checkRemoval(
                removal.requestID, removal.session, removal.requestedAt, target: ("client_id", removal.clientID), key: "remove_client",
                channel: channel)
            update = .sessionRemoved(
                SessionRemoval(
                    clientID: removal.clientID, endingSession: removal.session != "keep", requestedAt: removal.requestedAt ?? now,
                    requestedOn: origin?.node, requestID: removal.requestID))
        case (nil, let answer?, nil, nil):
            guard let origin else { throw SharedMessageError(channel: channel, reason: "removed_user: an answer names its node, \"node\"") }
            try checkAnswer(answer.askedOn, key: "removed_user", channel: channel)
            guard answer.clients.count <= UserRemovalAnswer.maxClients else {
                throw SharedMessageError(channel: channel, reason: "removed_user: more than \(UserRemovalAnswer.maxClients) clients")
            }
            if let index = answer.clients.firstIndex(where: { isNotAnID($0) }) {
                throw SharedMessageError(channel: channel, reason: "removed_user: clients[\(index)] is not a client id")
            }
            if let error = answer.error, error.count > UserRemovalAnswer.maxErrorLength {
                throw SharedMessageError(channel: channel, reason: "removed_user: error longer than \(UserRemovalAnswer.maxErrorLength) characters")
            }
            update = .userRemovalAnswered(
                UserRemovalAnswer(
                    requestID: answer.requestID, askedOn: answer.askedOn, node: origin.node, user: answer.user, clients: answer.clients,
                    error: answer.error))
        case (nil, nil, nil, let answer?):
            guard let origin else { throw SharedMessageError(channel: channel, reason: "removed_client: an answer names its node, \"node\"") }
            try checkAnswer(answer.askedOn, key: "removed_client", channel: channel)
            if isNotAnID(answer.clientID) { throw SharedMessageError(channel: channel, reason: "removed_client: client_id is not a client id") }
            if let user = answer.removed?.user, isNotAnID(user) {
                throw SharedMessageError(channel: channel, reason: "removed_client: removed.user is not a user")
            }
            if answer.removed != nil && answer.refused != nil {
                throw SharedMessageError(channel: channel, reason: "removed_client: an answer is removed or refused, not both")
            }
            if let refused = answer.refused {
                guard (400...599).contains(refused.status), !isNotAnID(refused.error),
                    refused.details.count <= SessionRemovalAnswer.maxDetailsLength
                else {
                    throw SharedMessageError(
                        channel: channel,
                        reason: "removed_client: refused needs a status from 400 to 599, an error code and details of at most"
                            + " \(SessionRemovalAnswer.maxDetailsLength) characters")
                }
            }
            update = .sessionRemovalAnswered(
                SessionRemovalAnswer(
                    requestID: answer.requestID, askedOn: answer.askedOn, node: origin.node, clientID: answer.clientID,
                    removed: answer.removed.map {
                        .init(user: $0.user, disconnected: $0.disconnected, sessionEnded: $0.sessionEnded, seq: $0.seq)
                    },
                    refused: answer.refused.map { .init(status: $0.status, error: $0.error, details: $0.details) }))
        default:
            guard let origin else { throw SharedMessageError(channel: channel, reason: "a lookup and its answers name their node, \"node\"") }
            update = try decodeLookup(wire, origin: origin, channel: channel)
        }
        return Message(origin: origin, update: update)
    }

    /// Whether `payload`, a message of the removals channel larger than `minBytes`, is an answer
    /// to a lookup (`found_…`) asked on another node than `node`. Read from the bytes: such an
    /// answer carries up to a megabyte, which every node but the one asked would decode (16 ms a
    /// part, measured in a debug build) only to drop it, on the thread that reads the ticks too.
    /// False when it cannot tell (the node asked is not written plainly): then the message is
    /// decoded as any other.
    public static func isLargeAnswer(_ payload: [UInt8], forAnotherNodeThan node: String, minBytes: Int = 64 << 10) -> Bool {
        guard payload.count > minBytes, payload.firstRange(of: Array(#""found_"#.utf8)) != nil,
            let key = payload.firstRange(of: Array(#""asked_on":""#.utf8))
        else { return false }
        // A quote inside any string is escaped, so these are the keys, not text of the body.
        guard let end = payload[key.upperBound...].firstIndex(of: UInt8(ascii: "\"")) else { return false }
        let askedOn = payload[key.upperBound..<end]
        guard !askedOn.contains(UInt8(ascii: "\\")) else { return false }
        return !askedOn.elementsEqual(node.utf8)
    }

    /// A lookup or an answer to one (the one of them `wire` has), from `origin`.
    private static func decodeLookup(_ wire: RemovalsWire, origin: NodeOrigin, channel: String) throws(SharedMessageError) -> SharedUpdate {
        if case let (lookup, name)? = wire.findClient.map({ ($0, "find_client") }) ?? wire.findUser.map({ ($0, "find_user") })
            ?? wire.findConnections.map({ ($0, "find_connections") }) ?? wire.findSubscribers.map({ ($0, "find_subscribers") })
            ?? wire.findSubscriptions.map({ ($0, "find_subscriptions") })
        {
            let target = try lookupTarget(of: name, clientID: lookup.clientID, user: lookup.user, type: lookup.type, target: lookup.target, channel: channel)
            if isNotAnID(lookup.requestID) { throw SharedMessageError(channel: channel, reason: "\(name): request_id is not a request id") }
            if let first = lookup.first, target != .connections || !(1...SessionLookup.maxFirst).contains(first) {
                throw SharedMessageError(channel: channel, reason: "\(name): first must be from 1 to \(SessionLookup.maxFirst), in find_connections only")
            }
            let listsConnections = switch target {
            case .connections, .user: true
            default: false
            }
            if let subscriptions = lookup.subscriptions, subscriptions != SessionLookup.countWire || !listsConnections {
                throw SharedMessageError(channel: channel, reason: "\(name): subscriptions may only be \"count\", in find_connections and find_user")
            }
            return .sessionLookedUp(
                SessionLookup(
                    target, requestedOn: origin.node, requestID: lookup.requestID, first: lookup.first,
                    countsSubscriptions: lookup.subscriptions != nil))
        }
        guard case let (answer, name)? = wire.foundClient.map({ ($0, "found_client") }) ?? wire.foundUser.map({ ($0, "found_user") })
            ?? wire.foundConnections.map({ ($0, "found_connections") }) ?? wire.foundSubscribers.map({ ($0, "found_subscribers") })
            ?? wire.foundSubscriptions.map({ ($0, "found_subscriptions") })
        else {
            throw SharedMessageError(channel: channel, reason: "a lookup or an answer to one")
        }
        try checkAnswer(answer.askedOn, key: name, channel: channel)
        let target = try lookupTarget(of: name, clientID: answer.clientID, user: answer.user, type: answer.type, target: answer.target, channel: channel)
        let (part, parts) = (answer.part ?? 0, answer.parts ?? 1)
        guard (1...SessionLookupAnswer.maxParts).contains(parts), (0..<parts).contains(part), parts == 1 || answer.body != nil else {
            throw SharedMessageError(
                channel: channel,
                reason: "\(name): parts must be from 1 to \(SessionLookupAnswer.maxParts), part from 0 to parts - 1, and each part must carry body")
        }
        // A body in parts is one JSON object once they are joined; each part is a piece of it.
        if let body = answer.body, body.utf8.count > SessionLookupAnswer.maxBodyBytes || (part == 0 && body.first != "{") {
            throw SharedMessageError(
                channel: channel,
                reason: "\(name): body must be a JSON object (or a piece of one, in parts) of at most \(SessionLookupAnswer.maxBodyBytes) bytes")
        }
        if let error = answer.error, error.count > SessionLookupAnswer.maxErrorLength {
            throw SharedMessageError(channel: channel, reason: "\(name): error longer than \(SessionLookupAnswer.maxErrorLength) characters")
        }
        var found = SessionLookupAnswer(
            requestID: answer.requestID, askedOn: answer.askedOn, node: origin.node, target: target, body: answer.body, error: answer.error)
        found.part = part
        found.parts = parts
        return .sessionLookupAnswered(found)
    }

    /// What the lookup or answer `name` (`find_client`, `found_user`, …) is about, from its fields.
    private static func lookupTarget(
        of name: String, clientID: String?, user: String?, type: String?, target: String?, channel: String
    ) throws(SharedMessageError) -> SessionLookup.Target {
        func id(_ value: String?, _ key: String) throws(SharedMessageError) -> String {
            guard let value, !isNotAnID(value) else { throw SharedMessageError(channel: channel, reason: "\(name): \(key) must be an id") }
            return value
        }
        func subscriptionType() throws(SharedMessageError) -> SubscriptionType? {
            guard let type else { return nil }
            guard let known = SubscriptionType(rawValue: type) else {
                throw SharedMessageError(channel: channel, reason: "\(name): type must be a subscription type, got \"\(type.prefix(32))\"")
            }
            return known
        }
        switch name.dropFirst(name.hasPrefix("find_") ? 5 : 6) {
        case "client": return .client(try id(clientID, "client_id"))
        case "user": return .user(try id(user, "user"))
        case "connections": return .connections
        case "subscriptions": return .subscriptions(type: try subscriptionType())
        default: return .subscribers(type: try subscriptionType(), target: try id(target, "target"))
        }
    }

    /// Whether `text` is not an id as the broker makes them (users, client ids, node ids, codes).
    private static func isNotAnID(_ text: String) -> Bool {
        FieldRules.identifierProblem(text, maxLength: Limits().maxTargetLength) != nil
    }

    /// Refuses a removal whose target or request id is not an id, whose `session` is neither
    /// `end` nor `keep`, or whose `requested_at` is not a time (its age is taken from the clock:
    /// at Int64's ends that overflowed).
    private static func checkRemoval(
        _ requestID: String?, _ session: String?, _ requestedAt: Int64?, target: (name: String, value: String), key: String, channel: String
    ) throws(SharedMessageError) {
        if let requestedAt, let problem = FieldRules.timestampProblem(requestedAt) {
            throw SharedMessageError(channel: channel, reason: "\(key): requested_at \(problem)")
        }
        if let problem = FieldRules.identifierProblem(target.value, maxLength: Limits().maxTargetLength) {
            throw SharedMessageError(channel: channel, reason: "\(key): \(target.name) \(problem)")
        }
        if let requestID, let problem = FieldRules.identifierProblem(requestID, maxLength: Limits().maxTargetLength) {
            throw SharedMessageError(channel: channel, reason: "\(key): request_id \(problem)")
        }
        if let session, session != "end", session != "keep" {
            throw SharedMessageError(channel: channel, reason: "\(key): session must be end or keep, got \"\(session.prefix(32))\"")
        }
    }

    /// Refuses an answer whose `asked_on` is not a node id. What an operator's answer shows is
    /// bounded and made of ids as the broker makes them, so that a forged answer cannot stuff it.
    private static func checkAnswer(_ askedOn: String, key: String, channel: String) throws(SharedMessageError) {
        if let problem = FieldRules.identifierProblem(askedOn, maxLength: Limits().maxTargetLength) {
            throw SharedMessageError(channel: channel, reason: "\(key): asked_on \(problem)")
        }
    }

    /// Decodes a message from the nodes channel: a node's heartbeat, which names its node.
    public static func decodeNodes(_ json: [UInt8], channel: String) throws(SharedMessageError) -> Message {
        let wire = try decode(
            NodesWire.self, from: json, channel: channel,
            expected: "{\"node\",\"instance\",\"heartbeat\":{\"state\",\"connections\",\"sessions\",\"ticks_per_second\",\"journal_seq\",\"started_at\",\"sent_at\"}}")
        guard let node = wire.node, let origin = origin(node, wire.instance),
            FieldRules.identifierProblem(node, maxLength: Limits().maxTargetLength) == nil
        else {
            throw SharedMessageError(channel: channel, reason: "a heartbeat names its node: \"node\", 1 to \(Limits().maxTargetLength) characters")
        }
        let beat = wire.heartbeat
        guard let state = NodeHeartbeat.State(rawValue: beat.state) else {
            let states = NodeHeartbeat.State.allCases.map(\.rawValue).joined(separator: ", ")
            throw SharedMessageError(channel: channel, reason: "heartbeat: state must be one of \(states), got \"\(beat.state.prefix(32))\"")
        }
        guard beat.connections >= 0, beat.sessions >= 0, beat.ticksPerSecond.isFinite, beat.ticksPerSecond >= 0 else {
            throw SharedMessageError(channel: channel, reason: "heartbeat: connections, sessions and ticks_per_second must be numbers from 0")
        }
        // Times are compared with the clock and with each other: bounded, no difference overflows.
        for (key, time) in [("started_at", beat.startedAt), ("sent_at", beat.sentAt)] {
            if let problem = FieldRules.timestampProblem(time) { throw SharedMessageError(channel: channel, reason: "heartbeat: \(key) \(problem)") }
        }
        return Message(
            origin: origin,
            update: .nodeHeartbeat(NodeHeartbeat(
                origin: origin, state: state, connections: beat.connections, sessions: beat.sessions, ticksPerSecond: beat.ticksPerSecond,
                journalSeq: beat.journalSeq, startedAt: beat.startedAt, sentAt: beat.sentAt)))
    }

    /// `json` as a `Wire`, or an error that says what the channel expects and what was wrong.
    private static func decode<Wire: Decodable>(
        _: Wire.Type, from json: [UInt8], channel: String, expected: String
    ) throws(SharedMessageError) -> Wire {
        if let key = DuplicateJSONKeys.first(in: json) {
            throw SharedMessageError(channel: channel, reason: "the key \"\(key.prefix(64))\" appears twice in one object")
        }
        do {
            return try JSONDecoder().decode(Wire.self, from: Data(json))
        } catch {
            throw SharedMessageError(channel: channel, reason: "expected \(expected): \(DecodingFailure.describe(error))")
        }
    }

    /// The origin named by a message's tags; nil when it has no `node` (an external feeder).
    static func origin(_ node: String?, _ instance: String?) -> NodeOrigin? {
        node.map { NodeOrigin(node: $0, instance: instance ?? "") }
    }
}

// MARK: Wire shapes

/// A tick as shared: the fields the feeder left out are left out (encoded as absent).
private struct TickWire: Codable {
    var code: String
    var name: String?
    var price: Double
    var volume: Int64?
    var prevClose: Double?
    var timestamp: Int64

    init(_ tick: FedTick) {
        code = tick.code
        name = tick.name
        price = tick.price
        volume = tick.volume
        prevClose = tick.prevClose
        timestamp = tick.timestamp
    }

    enum CodingKeys: String, CodingKey {
        case code, name, price, volume, timestamp
        case prevClose = "prev_close"
    }
}

private struct TicksWire: Encodable {
    var node: String
    var instance: String
    var ticks: [TickWire]
}

private struct NewsItemWire: Codable {
    var id: String?
    var title: String
    var summary: String?
    var url: String?
    var codes: [String]?
    var category: String?
    var publishedAt: Int64?

    init(_ item: NewsItem) {
        id = item.id
        title = item.title
        summary = item.summary
        url = item.url
        codes = item.codes
        category = item.category
        publishedAt = item.publishedAt
    }

    /// The item, with the defaults of `POST /api/news` for what an external feeder left out.
    func item(now: Int64, defaultID: String) -> NewsItem {
        NewsItem(
            id: id ?? defaultID, title: title, summary: summary ?? "", url: url ?? "", codes: codes ?? [],
            category: category ?? "general", publishedAt: publishedAt ?? now)
    }

    enum CodingKeys: String, CodingKey {
        case id, title, summary, url, codes, category
        case publishedAt = "published_at"
    }
}

private struct NewsWire: Codable {
    var node: String?
    var instance: String?
    var news: NewsItemWire
}

private struct RemovedWire: Codable {
    var ruleID: String
    var user: String

    enum CodingKeys: String, CodingKey {
        case user
        case ruleID = "rule_id"
    }
}

private struct AlertsWire: Codable {
    var node: String?
    var instance: String?
    var set: AlertRule?
    var removed: RemovedWire?
}

private struct SignalsWire: Codable {
    var node: String?
    var instance: String?
    var strategy: String
    /// The route's shape: only `code` is required (see `Signal.init(from:)`).
    var signals: [Signal]
}

/// FNV-1a, 64 bits, as 16 hex digits: the same on every node for the same bytes.
private func fnv1a(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

private struct KlinesWire: Codable {
    var node: String?
    var instance: String?
    var klines: [KlineBar]
}

private struct UserRemovalWire: Codable {
    var user: String
    var session: String?
    var requestedAt: Int64?
    var requestID: String?

    init(_ removal: UserRemoval) {
        user = removal.user
        session = removal.endingSessions ? "end" : "keep"
        requestedAt = removal.requestedAt
        requestID = removal.requestID
    }

    enum CodingKeys: String, CodingKey {
        case user, session
        case requestedAt = "requested_at"
        case requestID = "request_id"
    }
}

private struct RemovalAnswerWire: Codable {
    var requestID: String
    var askedOn: String
    var user: String
    var clients: [String]
    var error: String?

    init(_ answer: UserRemovalAnswer) {
        requestID = answer.requestID
        askedOn = answer.askedOn
        user = answer.user
        clients = answer.clients
        error = answer.error
    }

    enum CodingKeys: String, CodingKey {
        case user, clients, error
        case requestID = "request_id"
        case askedOn = "asked_on"
    }
}

private struct SessionRemovalWire: Codable {
    var clientID: String
    var session: String?
    var requestedAt: Int64?
    var requestID: String?

    init(_ removal: SessionRemoval) {
        clientID = removal.clientID
        session = removal.endingSession ? "end" : "keep"
        requestedAt = removal.requestedAt
        requestID = removal.requestID
    }

    enum CodingKeys: String, CodingKey {
        case session
        case clientID = "client_id"
        case requestedAt = "requested_at"
        case requestID = "request_id"
    }
}

private struct SessionRemovalAnswerWire: Codable {
    struct Removed: Codable {
        var user: String?
        var disconnected: Bool
        var sessionEnded: Bool
        var seq: UInt64

        enum CodingKeys: String, CodingKey {
            case user, disconnected, seq
            case sessionEnded = "session_ended"
        }
    }

    struct Refused: Codable {
        var status: Int
        var error: String
        var details: String
    }

    var requestID: String
    var askedOn: String
    var clientID: String
    var removed: Removed?
    var refused: Refused?

    init(_ answer: SessionRemovalAnswer) {
        requestID = answer.requestID
        askedOn = answer.askedOn
        clientID = answer.clientID
        removed = answer.removed.map { Removed(user: $0.user, disconnected: $0.disconnected, sessionEnded: $0.sessionEnded, seq: $0.seq) }
        refused = answer.refused.map { Refused(status: $0.status, error: $0.error, details: $0.details) }
    }

    enum CodingKeys: String, CodingKey {
        case removed, refused
        case requestID = "request_id"
        case askedOn = "asked_on"
        case clientID = "client_id"
    }
}

/// `find_client` (with `client_id`), `find_user` (with `user`), `find_connections` (with neither),
/// `find_subscribers` (with `target`, and `type` when one was asked for) or `find_subscriptions`
/// (with `type` when one was asked for).
private struct SessionLookupWire: Codable {
    var clientID: String? = nil
    var user: String? = nil
    var type: String? = nil
    var target: String? = nil
    var requestID: String
    /// Only in `find_connections`, when the node asked needs only each node's oldest rows.
    var first: Int? = nil
    /// Only in `find_connections` and `find_user`: `count` when each row is to carry the count of
    /// its subscriptions, not the list.
    var subscriptions: String? = nil

    enum CodingKeys: String, CodingKey {
        case user, type, target, first, subscriptions
        case clientID = "client_id"
        case requestID = "request_id"
    }
}

/// `found_client`, `found_user`, `found_connections`, `found_subscribers` or `found_subscriptions`,
/// with what the lookup named.
private struct SessionLookupAnswerWire: Codable {
    var requestID: String
    var askedOn: String
    var clientID: String?
    var user: String?
    var type: String?
    var target: String?
    var body: String?
    var error: String?
    /// Only in an answer that takes several messages (`parts` > 1): which one this is, from 0.
    var part: Int?
    var parts: Int?

    init(_ answer: SessionLookupAnswer) {
        requestID = answer.requestID
        askedOn = answer.askedOn
        switch answer.target {
        case .client(let clientID): self.clientID = clientID
        case .user(let user): self.user = user
        case .connections: break
        case .subscribers(let type, let target):
            self.type = type?.rawValue
            self.target = target
        case .subscriptions(let type): self.type = type?.rawValue
        }
        body = answer.body
        error = answer.error
        if answer.parts > 1 {
            part = answer.part
            parts = answer.parts
        }
    }

    enum CodingKeys: String, CodingKey {
        case user, type, target, body, error, part, parts
        case requestID = "request_id"
        case askedOn = "asked_on"
        case clientID = "client_id"
    }
}

// The requests' wire keys, from the one place that spells them (`RemovalsWire.CodingKeys`).

extension UserRemoval {
    /// `remove_user`.
    public var requestKind: String { RemovalsWire.CodingKeys.removeUser.rawValue }
}

extension SessionRemoval {
    /// `remove_client`.
    public var requestKind: String { RemovalsWire.CodingKeys.removeClient.rawValue }
}

extension SessionLookup.Target {
    /// The wire key of a lookup of this target (`find_client`, `find_user`, `find_connections`,
    /// `find_subscribers`, `find_subscriptions`), which names it in metrics.
    public var requestKind: String {
        let key: RemovalsWire.CodingKeys =
            switch self {
            case .client: .findClient
            case .user: .findUser
            case .connections: .findConnections
            case .subscribers: .findSubscribers
            case .subscriptions: .findSubscriptions
            }
        return key.rawValue
    }
}

private struct RemovalsWire: Codable {
    var node: String?
    var instance: String?
    var removeUser: UserRemovalWire?
    var removedUser: RemovalAnswerWire?
    var removeClient: SessionRemovalWire?
    var removedClient: SessionRemovalAnswerWire?
    var findClient: SessionLookupWire?
    var foundClient: SessionLookupAnswerWire?
    var findUser: SessionLookupWire?
    var foundUser: SessionLookupAnswerWire?
    var findSubscribers: SessionLookupWire?
    var foundSubscribers: SessionLookupAnswerWire?
    var findConnections: SessionLookupWire?
    var foundConnections: SessionLookupAnswerWire?
    var findSubscriptions: SessionLookupWire?
    var foundSubscriptions: SessionLookupAnswerWire?

    init(
        node: String?, instance: String?, removeUser: UserRemovalWire? = nil, removedUser: RemovalAnswerWire? = nil,
        removeClient: SessionRemovalWire? = nil, removedClient: SessionRemovalAnswerWire? = nil,
        findClient: SessionLookupWire? = nil, foundClient: SessionLookupAnswerWire? = nil,
        findUser: SessionLookupWire? = nil, foundUser: SessionLookupAnswerWire? = nil,
        findSubscribers: SessionLookupWire? = nil, foundSubscribers: SessionLookupAnswerWire? = nil,
        findConnections: SessionLookupWire? = nil, foundConnections: SessionLookupAnswerWire? = nil,
        findSubscriptions: SessionLookupWire? = nil, foundSubscriptions: SessionLookupAnswerWire? = nil
    ) {
        self.node = node
        self.instance = instance
        self.removeUser = removeUser
        self.removedUser = removedUser
        self.removeClient = removeClient
        self.removedClient = removedClient
        self.findClient = findClient
        self.foundClient = foundClient
        self.findUser = findUser
        self.foundUser = foundUser
        self.findSubscribers = findSubscribers
        self.foundSubscribers = foundSubscribers
        self.findConnections = findConnections
        self.foundConnections = foundConnections
        self.findSubscriptions = findSubscriptions
        self.foundSubscriptions = foundSubscriptions
    }

    enum CodingKeys: String, CodingKey {
        case node, instance
        case removeUser = "remove_user"
        case removedUser = "removed_user"
        case removeClient = "remove_client"
        case removedClient = "removed_client"
        case findClient = "find_client"
        case foundClient = "found_client"
        case findUser = "find_user"
        case foundUser = "found_user"
        case findSubscribers = "find_subscribers"
        case foundSubscribers = "found_subscribers"
        case findConnections = "find_connections"
        case foundConnections = "found_connections"
        case findSubscriptions = "find_subscriptions"
        case foundSubscriptions = "found_subscriptions"
    }
}

private struct HeartbeatWire: Codable {
    var state: String
    var connections: Int
    var sessions: Int
    var ticksPerSecond: Double
    var journalSeq: UInt64
    var startedAt: Int64
    var sentAt: Int64

    init(_ heartbeat: NodeHeartbeat) {
        state = heartbeat.state.rawValue
        connections = heartbeat.connections
        sessions = heartbeat.sessions
        ticksPerSecond = heartbeat.ticksPerSecond
        journalSeq = heartbeat.journalSeq
        startedAt = heartbeat.startedAt
        sentAt = heartbeat.sentAt
    }

    enum CodingKeys: String, CodingKey {
        case state, connections, sessions
        case ticksPerSecond = "ticks_per_second"
        case journalSeq = "journal_seq"
        case startedAt = "started_at"
        case sentAt = "sent_at"
    }
}

private struct NodesWire: Codable {
    var node: String?
    var instance: String?
    var heartbeat: HeartbeatWire
}
