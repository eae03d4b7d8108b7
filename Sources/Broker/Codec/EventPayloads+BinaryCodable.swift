// Binary form of every event payload. Field order is the on-disk format of
// `EventCodec.formatVersion`: append new fields only behind a version bump, and read a payload of
// an older version without them (see `AlertTriggered`, whose fields grew in format 2, and
// `SignalsReplaced`, in format 3).

extension DisconnectReason: BinaryCodable {
    /// Stable one-byte code, independent of declaration order.
    var binaryCode: UInt8 {
        switch self {
        case .closed: 0
        case .heartbeatTimeout: 1
        case .slowConsumer: 2
        case .kicked: 3
        case .shutdown: 4
        case .brokerRestart: 5
        case .tokenExpired: 6
        case .replaced: 7
        }
    }

    /// Writes the one-byte code.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(byte: binaryCode)
    }

    /// Reads the one-byte code.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        switch try reader.readByte() {
        case 0: self = .closed
        case 1: self = .heartbeatTimeout
        case 2: self = .slowConsumer
        case 3: self = .kicked
        case 4: self = .shutdown
        case 5: self = .brokerRestart
        case 6: self = .tokenExpired
        case 7: self = .replaced
        case let raw: throw .unknownEnumValue(type: "DisconnectReason", raw: UInt64(raw))
        }
    }
}

extension SubscriptionType: BinaryCodable {
    /// Writes the one-byte code.
    public func encode(to writer: inout BinaryWriter) {
        let code: UInt8 =
            switch self {
            case .strategy: 0
            case .stock: 1
            case .market: 2
            case .news: 3
            case .alerts: 4
            }
        writer.write(byte: code)
    }

    /// Reads the one-byte code.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        switch try reader.readByte() {
        case 0: self = .strategy
        case 1: self = .stock
        case 2: self = .market
        case 3: self = .news
        case 4: self = .alerts
        case let raw: throw .unknownEnumValue(type: "SubscriptionType", raw: UInt64(raw))
        }
    }
}

extension AlertCondition: BinaryCodable {
    /// Writes the one-byte code.
    public func encode(to writer: inout BinaryWriter) {
        let code: UInt8 =
            switch self {
            case .above: 0
            case .below: 1
            case .changePercent: 2
            }
        writer.write(byte: code)
    }

    /// Reads the one-byte code.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        switch try reader.readByte() {
        case 0: self = .above
        case 1: self = .below
        case 2: self = .changePercent
        case let raw: throw .unknownEnumValue(type: "AlertCondition", raw: UInt64(raw))
        }
    }
}

extension ClientConnected: BinaryCodable {
    /// Writes the fields in format order.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(string: clientID)
        writer.write(optionalString: user)
        writer.write(optionalString: remoteAddress)
        writer.write(string: node)
    }

    /// Reads the fields in format order.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        clientID = try reader.readString()
        user = try reader.readOptionalString()
        remoteAddress = try reader.readOptionalString()
        node = try reader.readString()
    }
}

extension ClientDisconnected: BinaryCodable {
    /// Writes the fields in format order.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(string: clientID)
        writer.write(reason)
        writer.write(signed: resumeDeadline)
    }

    /// Reads the fields in format order.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        clientID = try reader.readString()
        reason = try reader.read()
        resumeDeadline = try reader.readSigned()
    }
}

extension SessionExpired: BinaryCodable {
    /// Writes the fields in format order.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(string: clientID)
    }

    /// Reads the fields in format order.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        clientID = try reader.readString()
    }
}

extension Subscription: BinaryCodable {
    /// Writes the fields in format order.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(type)
        writer.write(string: target)
    }

    /// Reads the fields in format order.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        type = try reader.read()
        target = try reader.readString()
    }
}

extension SubscriptionChange: BinaryCodable {
    /// Writes the fields in format order.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(string: clientID)
        writer.write(subscription)
    }

    /// Reads the fields in format order.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        clientID = try reader.readString()
        subscription = try reader.read()
    }
}

extension PriceTick: BinaryCodable {
    /// Writes the fields in format order.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(string: code)
        writer.write(string: name)
        writer.write(double: price)
        writer.write(signed: volume)
        writer.write(double: prevClose)
        writer.write(signed: timestamp)
    }

    /// Reads the fields in format order.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        code = try reader.readString()
        name = try reader.readString()
        price = try reader.readDouble()
        volume = try reader.readSigned()
        prevClose = try reader.readDouble()
        timestamp = try reader.readSigned()
    }
}

extension KlineBar: BinaryCodable {
    /// Writes the fields in format order.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(string: code)
        writer.write(string: period)
        writer.write(double: open)
        writer.write(double: high)
        writer.write(double: low)
        writer.write(double: close)
        writer.write(signed: volume)
        writer.write(signed: start)
        writer.write(bool: closed)
    }

    /// Reads the fields in format order.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        code = try reader.readString()
        period = try reader.readString()
        open = try reader.readDouble()
        high = try reader.readDouble()
        low = try reader.readDouble()
        close = try reader.readDouble()
        volume = try reader.readSigned()
        start = try reader.readSigned()
        closed = try reader.readBool()
    }
}

extension NewsItem: BinaryCodable {
    /// Writes the fields in format order.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(string: id)
        writer.write(string: title)
        writer.write(string: summary)
        writer.write(string: url)
        writer.write(strings: codes)
        writer.write(string: category)
        writer.write(signed: publishedAt)
    }

    /// Reads the fields in format order.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        id = try reader.readString()
        title = try reader.readString()
        summary = try reader.readString()
        url = try reader.readString()
        codes = try reader.readStrings()
        category = try reader.readString()
        publishedAt = try reader.readSigned()
    }
}

extension AlertRule: BinaryCodable {
    /// Writes the fields in format order.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(string: id)
        writer.write(string: user)
        writer.write(string: code)
        writer.write(condition)
        writer.write(double: threshold)
    }

    /// Reads the fields in format order.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        id = try reader.readString()
        user = try reader.readString()
        code = try reader.readString()
        condition = try reader.read()
        threshold = try reader.readDouble()
    }
}

extension AlertRuleRemoved: BinaryCodable {
    /// Writes the fields in format order.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(string: ruleID)
        writer.write(string: user)
    }

    /// Reads the fields in format order.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        ruleID = try reader.readString()
        user = try reader.readString()
    }
}

extension AlertTriggered: BinaryCodable {
    /// Writes the fields in format order.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(string: ruleID)
        writer.write(string: user)
        writer.write(string: code)
        writer.write(double: price)
        writer.write(optional: condition)
        writer.write(optionalDouble: threshold)
    }

    /// Reads the fields in the format this build writes.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        try self.init(from: &reader, formatVersion: EventCodec.formatVersion)
    }

    /// Reads the fields of a payload written in `formatVersion`. Format 1 ends at the price: its
    /// rows leave the rule's condition and threshold nil.
    init(from reader: inout BinaryReader, formatVersion: UInt8) throws(CodecError) {
        ruleID = try reader.readString()
        user = try reader.readString()
        code = try reader.readString()
        price = try reader.readDouble()
        guard formatVersion >= 2 else { return }
        condition = try reader.readOptional()
        threshold = try reader.readOptionalDouble()
    }
}

extension Signal: BinaryCodable {
    /// Writes the fields in format order.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(string: code)
        writer.write(string: name)
        writer.write(optionalString: signalDate)
        writer.write(optionalString: reason)
    }

    /// Reads the fields in format order.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        code = try reader.readString()
        name = try reader.readString()
        signalDate = try reader.readOptionalString()
        reason = try reader.readOptionalString()
    }
}

extension SignalsReplaced: BinaryCodable {
    /// Writes the fields in format order.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(string: strategy)
        writer.write(array: signals)
        writer.write(bool: addedCodes != nil)
        if let addedCodes { writer.write(strings: addedCodes) }
    }

    /// Reads the fields in the format this build writes.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        try self.init(from: &reader, formatVersion: EventCodec.formatVersion)
    }

    /// Reads the fields of a payload written in `formatVersion`. Formats 1 and 2 end at the
    /// signals: their rows leave the added codes nil.
    init(from reader: inout BinaryReader, formatVersion: UInt8) throws(CodecError) {
        strategy = try reader.readString()
        signals = try reader.readArray()
        guard formatVersion >= 3 else { return }
        addedCodes = try reader.readBool() ? try reader.readStrings() : nil
    }
}

extension SourceAdvanced: BinaryCodable {
    /// Writes the fields in format order.
    public func encode(to writer: inout BinaryWriter) {
        writer.write(string: source)
        writer.write(string: position)
    }

    /// Reads the fields in format order.
    public init(from reader: inout BinaryReader) throws(CodecError) {
        source = try reader.readString()
        position = try reader.readString()
    }
}
