import DequeModule

/// Snapshot form of the projection: a format-version byte, then every part with keys sorted, so the
/// same state always gives the same bytes whatever order it was built in.
///
/// Reverse indexes are not stored; they are rebuilt on load, which also re-establishes their
/// invariants. Loading checks ordering and cross-references, so a snapshot that parses but could
/// never have been produced by `apply` is rejected as `corrupt` instead of trusted.
extension Projection {
    /// The snapshot format this build writes and the newest it reads.
    /// Version 2 added source positions; version 1 snapshots still load (with none). Version 3
    /// added the start of resumed sessions; older snapshots load with each session started at its
    /// latest connect. Version 4 added the ids of recent news (`NewsIDWindow`); older snapshots
    /// load with the ids of the news items they hold.
    public static let formatVersion: UInt8 = 4

    /// Every snapshot format `init(serialized:)` reads: 1 up to `formatVersion`.
    public static let readableFormats: ClosedRange<UInt8> = 1...formatVersion

    /// Deterministic binary snapshot of the whole state.
    public func serialized() -> [UInt8] {
        var w = BinaryWriter(reservingCapacity: 4096)
        w.write(byte: Self.formatVersion)
        w.write(varint: lastSeq)
        w.write(signed: lastTimestamp)

        w.write(count: clients.count)
        for id in clients.keys.sorted() {
            // Force-unwrap is safe: the id comes from the same dictionary's keys.
            clients[id]!.encode(to: &w)
        }

        let subscribers = subscriptions.clientIDs.sorted()
        w.write(count: subscribers.count)
        for id in subscribers {
            w.write(string: id)
            w.write(array: subscriptions.subscriptions(of: id).sorted())
        }

        let names = strategies.strategyNames.sorted()
        w.write(count: names.count)
        for name in names {
            w.write(string: name)
            w.write(array: strategies.signals(of: name))
        }

        w.write(count: lastPrices.count)
        for code in lastPrices.keys.sorted() {
            w.write(lastPrices[code]!)
        }

        w.write(count: lastBars.count)
        for key in lastBars.keys.sorted() {
            w.write(lastBars[key]!)
        }

        w.write(count: news.count)
        for entry in news {
            w.write(varint: entry.seq)
            w.write(entry.item)
        }

        let rules = alerts.rules
        w.write(count: rules.count)
        for id in rules.keys.sorted() {
            w.write(rules[id]!)
            w.write(bool: alerts.isTriggered(id))
        }

        w.write(count: sourcePositions.count)
        for source in sourcePositions.keys.sorted() {
            w.write(string: source)
            w.write(string: sourcePositions[source]!)
        }

        // Only sessions that were resumed started before their latest connect.
        let resumed = clients.keys.sorted().filter { clients[$0]!.startedAt != clients[$0]!.connectedAt }
        w.write(count: resumed.count)
        for id in resumed {
            w.write(string: id)
            w.write(signed: clients[id]!.startedAt)
        }

        // In publish order, which decides which id goes first.
        w.write(count: newsIDs.ids.count)
        for id in newsIDs.ids { w.write(string: id) }
        return w.bytes
    }

    /// Restores a projection from `serialized()` output; throws on truncated, corrupt or newer input.
    public init(serialized bytes: [UInt8]) throws(CodecError) {
        self.init()
        var r = BinaryReader(bytes)
        let version = try r.readByte()
        guard Self.readableFormats.contains(version) else {
            throw .unsupportedVersion(found: version, supported: Self.formatVersion)
        }
        lastSeq = try r.readVarint()
        lastTimestamp = try r.readSigned()

        var previous: String?
        for _ in 0..<(try r.readCount()) {
            let client = try ClientRecord(from: &r)
            try Self.requireAscending(client.id, after: &previous, what: "client ids")
            clients[client.id] = client
        }

        previous = nil
        for _ in 0..<(try r.readCount()) {
            let id = try r.readString()
            try Self.requireAscending(id, after: &previous, what: "subscribing client ids")
            guard clients[id] != nil else { throw .corrupt("subscriptions of unknown client '\(id)'") }
            let list: [Subscription] = try r.readArray()
            guard !list.isEmpty else { throw .corrupt("empty subscription list of client '\(id)'") }
            for subscription in list {
                guard subscriptions.insert(clientID: id, subscription: subscription) else {
                    throw .corrupt("duplicate subscription of client '\(id)'")
                }
            }
        }

        previous = nil
        for _ in 0..<(try r.readCount()) {
            let name = try r.readString()
            try Self.requireAscending(name, after: &previous, what: "strategy names")
            let signals: [Signal] = try r.readArray()
            guard !signals.isEmpty else { throw .corrupt("empty signal list of strategy '\(name)'") }
            strategies.replace(strategy: name, with: signals)
        }

        previous = nil
        for _ in 0..<(try r.readCount()) {
            let tick: PriceTick = try r.read()
            try Self.requireAscending(tick.code, after: &previous, what: "price codes")
            lastPrices[tick.code] = tick
        }

        var previousKey: BarKey?
        for _ in 0..<(try r.readCount()) {
            let bar: KlineBar = try r.read()
            let key = BarKey(code: bar.code, period: bar.period)
            if let previousKey, !(previousKey < key) { throw .corrupt("bar keys out of order at '\(key.code)'") }
            previousKey = key
            lastBars[key] = bar
        }

        let newsCount = try r.readCount()
        guard newsCount <= Self.newsCapacity else {
            throw .corrupt("\(newsCount) news items exceed the capacity \(Self.newsCapacity)")
        }
        var previousSeq: UInt64?
        for _ in 0..<newsCount {
            let seq = try r.readVarint()
            if let previousSeq, seq <= previousSeq { throw .corrupt("news seqs out of order at \(seq)") }
            previousSeq = seq
            news.append(NewsEntry(seq: seq, item: try r.read()))
        }

        previous = nil
        for _ in 0..<(try r.readCount()) {
            let rule: AlertRule = try r.read()
            try Self.requireAscending(rule.id, after: &previous, what: "alert rule ids")
            alerts.set(rule)
            if try r.readBool() { alerts.markTriggered(rule.id) }
        }

        if version >= 2 {
            previous = nil
            for _ in 0..<(try r.readCount()) {
                let source = try r.readString()
                try Self.requireAscending(source, after: &previous, what: "source names")
                sourcePositions[source] = try r.readString()
            }
        }

        if version >= 3 {
            previous = nil
            for _ in 0..<(try r.readCount()) {
                let id = try r.readString()
                try Self.requireAscending(id, after: &previous, what: "resumed session ids")
                let startedAt = try r.readSigned()
                guard let client = clients[id], startedAt < client.connectedAt else {
                    throw .corrupt("session start of '\(id)' names no session, or is not before its latest connect")
                }
                clients[id]!.startedAt = startedAt
            }
        }

        if version >= 4 {
            let count = try r.readCount()
            guard count <= NewsIDWindow.capacity else {
                throw .corrupt("\(count) news ids exceed the capacity \(NewsIDWindow.capacity)")
            }
            for _ in 0..<count {
                let id = try r.readString()
                guard newsIDs.append(id) else { throw .corrupt("news id '\(id)' twice") }
            }
            // The ring's items are the newest news: their ids end the window.
            guard Array(newsIDs.ids.suffix(news.count)) == news.map(\.item.id) else {
                throw .corrupt("the news ids do not end with the ids of the news items")
            }
        } else {
            for entry in news { newsIDs.append(entry.item.id) }
        }

        try r.expectEnd()
    }

    private static func requireAscending(
        _ key: String, after previous: inout String?, what: String
    ) throws(CodecError) {
        if let last = previous, !(last < key) { throw .corrupt("\(what) out of order or duplicated at '\(key)'") }
        previous = key
    }
}

extension ClientRecord: BinaryCodable {
    /// Writes the fields in snapshot order.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(string: id)
        writer.write(optionalString: user)
        writer.write(optionalString: remoteAddress)
        writer.write(string: node)
        writer.write(signed: connectedAt)
        switch state {
        case .connected:
            writer.write(byte: 0)
        case .gone(let since, let reason, let resumeDeadline):
            writer.write(byte: 1)
            writer.write(signed: since)
            writer.write(reason)
            writer.write(signed: resumeDeadline)
        }
    }

    /// Reads the fields in snapshot order.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        id = try reader.readString()
        user = try reader.readOptionalString()
        remoteAddress = try reader.readOptionalString()
        node = try reader.readString()
        connectedAt = try reader.readSigned()
        // Format 3 keeps the starts of resumed sessions apart, at the end of the snapshot.
        startedAt = connectedAt
        switch try reader.readByte() {
        case 0:
            state = .connected
        case 1:
            state = .gone(since: try reader.readSigned(), reason: try reader.read(), resumeDeadline: try reader.readSigned())
        case let raw:
            throw .unknownEnumValue(type: "ClientState", raw: UInt64(raw))
        }
    }
}
