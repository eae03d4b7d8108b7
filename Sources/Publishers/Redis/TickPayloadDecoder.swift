import Broker
import Foundation

/// Turns Redis payloads into `FedTick`s: the JSON shapes of `POST /api/ticks` and flat stream fields.
///
/// Accepted JSON: one tick `{"code","price","name"?,"volume"?,"prev_close"?}`, an array of ticks,
/// or `{"ticks":[...]}`. Each tick is decoded and checked with the decider's rules on its own, so a
/// bad one (a field of the wrong type, a price the broker refuses) is dropped and reported instead
/// of costing the good ticks of its message, or making the broker refuse the whole batch. Only a
/// payload that is none of these shapes, or has a key twice in one object, is dropped whole.
/// What a tick leaves out (name, volume, previous close) stays left out: the decider fills it in
/// from what the broker knows of the code.
///
/// `{"ticks":[...]}` may carry `"node"` and `"instance"`: then it was published by a brokerd node
/// (`SharedMessageCodec`), and each tick's `"timestamp"` (UTC µs) is the origin's and is kept.
/// A feeder's `timestamp` field is ignored as before: its unit is not ours to guess.
struct TickPayloadDecoder: Sendable {
    /// What one payload yielded.
    struct Outcome: Sendable {
        /// Ticks that passed the checks.
        var ticks: [FedTick] = []
        /// One line per tick dropped, or one for a payload dropped whole; empty when all was well.
        var problems: [String] = []
        /// The brokerd node that published the payload; nil for an external feeder.
        var origin: NodeOrigin?
    }

    /// The decider's bounds, so the source rejects what the broker would reject.
    var limits: Limits

    /// Decodes a JSON message; `timestamp` is stamped on every tick.
    func decode(json: [UInt8], timestamp: Int64) -> Outcome {
        let payload: WirePayload
        do {
            // The common shapes take a hand-written scanner (Foundation's JSONDecoder cost ~3 µs a
            // tick); anything it is not sure of goes to JSONDecoder, which also words the errors. The
            // scanner gives up on a repeated key, which JSONDecoder would settle by picking one.
            if let scanned = TickJSONScanner.scan(json) {
                payload = scanned
            } else if let key = DuplicateJSONKeys.first(in: json) {
                return Outcome(problems: ["the key \"\(key.prefix(64))\" appears twice in one object; send each key once"])
            } else {
                payload = try JSONDecoder().decode(WirePayload.self, from: Data(json))
            }
        } catch {
            return Outcome(problems: ["not a tick, an array of ticks or {\"ticks\":[...]}: \(DecodingFailure.describe(error))"])
        }
        let origin = SharedMessageCodec.origin(payload.node, payload.instance)
        var outcome = validate(payload.ticks, timestamp: timestamp, keepTimestamps: origin != nil)
        outcome.problems = payload.rejected + outcome.problems
        outcome.origin = origin
        return outcome
    }

    /// Decodes one stream entry: a `tick` field holding JSON, or the tick's fields directly.
    func decode(streamFields fields: [String: String], timestamp: Int64) -> Outcome {
        if let json = fields["tick"] {
            return decode(json: Array(json.utf8), timestamp: timestamp)
        }
        guard let code = fields["code"], let priceText = fields["price"] else {
            return Outcome(problems: ["stream entry has neither a 'tick' field nor 'code' and 'price' fields"])
        }
        guard let price = Double(priceText) else { return Outcome(problems: ["price '\(priceText)' is not a number"]) }
        var volume: Int64?
        if let text = fields["volume"] {
            guard let value = Int64(text) ?? Double(text).flatMap({ Int64(exactly: $0) }) else {
                return Outcome(problems: ["volume '\(text)' is not a whole number"])
            }
            volume = value
        }
        var prevClose: Double?
        if let text = fields["prev_close"] {
            guard let value = Double(text) else { return Outcome(problems: ["prev_close '\(text)' is not a number"]) }
            prevClose = value
        }
        let tick = WireTick(code: code, name: fields["name"], price: price, volume: volume, prevClose: prevClose)
        return validate([tick], timestamp: timestamp)
    }

    private func validate(_ wire: [WireTick], timestamp: Int64, keepTimestamps: Bool = false) -> Outcome {
        var outcome = Outcome()
        outcome.ticks.reserveCapacity(wire.count)
        for item in wire {
            let tick = FedTick(
                code: item.code, name: item.name, price: item.price, volume: item.volume, prevClose: item.prevClose,
                timestamp: keepTimestamps ? item.timestamp ?? timestamp : timestamp)
            if let problem = Decider.problem(with: tick, limits) {
                outcome.problems.append("tick '\(tick.code.prefix(32))' \(problem)")
            } else if keepTimestamps, tick.timestamp < FieldRules.earliestFedTime {
                // A node stamps ticks on receipt, in microseconds: this one is not a node's.
                outcome.problems.append("tick '\(tick.code.prefix(32))' has timestamp \(tick.timestamp), before 2000 in microseconds")
            } else if keepTimestamps, tick.timestamp > timestamp + FieldRules.clockTolerance {
                // Kept, it would hold the code's bars back until this clock reached it (each tick
                // after it would be late for its bar) and read as a later trading day.
                outcome.problems.append(
                    "tick '\(tick.code.prefix(32))' has timestamp \(tick.timestamp), \((tick.timestamp - timestamp) / 1_000_000) s "
                        + "ahead of this node's clock (more than \(FieldRules.clockTolerance / 1_000_000) s): the nodes' clocks differ; keep them in sync (NTP)")
            } else {
                outcome.ticks.append(tick)
            }
        }
        return outcome
    }
}

/// One tick as it arrives on the wire (the `POST /api/ticks` shape).
struct WireTick: Decodable, Equatable {
    var code: String
    var name: String?
    var price: Double
    var volume: Int64?
    var prevClose: Double?
    /// The origin's time, honoured only in a message from a brokerd node.
    var timestamp: Int64?

    init(code: String, name: String?, price: Double, volume: Int64?, prevClose: Double?, timestamp: Int64? = nil) {
        self.code = code
        self.name = name
        self.price = price
        self.volume = volume
        self.prevClose = prevClose
        self.timestamp = timestamp
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        code = try container.decode(String.self, forKey: .code)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        price = try container.decode(Double.self, forKey: .price)
        do {
            volume = try container.decodeIfPresent(Int64.self, forKey: .volume)
        } catch {
            // For a fraction JSONDecoder throws an error of its own that names no field.
            throw DecodingError.typeMismatch(
                Int64.self, .init(codingPath: container.codingPath + [CodingKeys.volume], debugDescription: "not a whole number"))
        }
        prevClose = try container.decodeIfPresent(Double.self, forKey: .prevClose)
        // Leniently: feeders send timestamps of every shape, and theirs was never read.
        timestamp = try? container.decodeIfPresent(Int64.self, forKey: .timestamp)
    }

    enum CodingKeys: String, CodingKey {
        case code, name, price, volume, timestamp
        case prevClose = "prev_close"
    }
}

/// Any of the three accepted message shapes, flattened to a list, with a node's tags if present.
///
/// A list is decoded element by element: one that is not a tick is left out and named in
/// `rejected`, and the list goes on.
struct WirePayload: Decodable, Equatable {
    var ticks: [WireTick]
    /// Why list elements were left out, each naming its index; the scanner never leaves one out.
    var rejected: [String] = []
    var node: String?
    var instance: String?

    init(ticks: [WireTick], node: String? = nil, instance: String? = nil) {
        self.ticks = ticks
        self.node = node
        self.instance = instance
    }

    private enum Keys: String, CodingKey { case ticks, node, instance }

    init(from decoder: any Decoder) throws {
        if var list = try? decoder.unkeyedContainer() {
            (ticks, rejected) = try Self.elements(of: &list)
            return
        }
        let object = try decoder.container(keyedBy: Keys.self)
        if object.contains(.ticks) {
            var list = try object.nestedUnkeyedContainer(forKey: .ticks)
            (ticks, rejected) = try Self.elements(of: &list)
            node = try object.decodeIfPresent(String.self, forKey: .node)
            instance = try object.decodeIfPresent(String.self, forKey: .instance)
        } else {
            ticks = [try WireTick(from: decoder)]
        }
    }

    private static func elements(of list: inout any UnkeyedDecodingContainer) throws -> (ticks: [WireTick], rejected: [String]) {
        var ticks: [WireTick] = []
        var rejected: [String] = []
        while !list.isAtEnd {
            let index = list.currentIndex
            switch try list.decode(ListElement.self) {
            case .tick(let tick): ticks.append(tick)
            case .rejected(let reason): rejected.append("ticks[\(index)]: \(reason)")
            }
        }
        return (ticks, rejected)
    }
}

/// One element of a tick list. Decoding it never throws: a list container whose element fails
/// to decode does not move on to the next, so a throwing element would end the whole list.
private enum ListElement: Decodable {
    case tick(WireTick)
    case rejected(String)

    init(from decoder: any Decoder) {
        guard (try? decoder.container(keyedBy: WireTick.CodingKeys.self)) != nil else {
            self = .rejected("not an object")
            return
        }
        do {
            self = .tick(try WireTick(from: decoder))
        } catch {
            self = .rejected(DecodingFailure.describe(error, below: decoder.codingPath))
        }
    }
}
