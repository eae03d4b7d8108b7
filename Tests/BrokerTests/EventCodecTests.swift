import Foundation
import Testing
import TestSupport
@testable import Broker

@Suite("Event codec")
struct EventCodecTests {
    @Test("every kind has an example fixture")
    func fixturesCoverEveryKind() {
        #expect(Set(Fixtures.everyKind.map(\.kind)) == Set(EventKind.allCases))
    }

    @Test("decode(encode(e)) == e for every kind", arguments: Fixtures.everyKind)
    func roundTripsEveryKind(event: Event) throws {
        let bytes = EventCodec.encode(event)
        #expect(bytes.first == EventCodec.formatVersion)
        let decoded = try EventCodec.decode(kind: event.kind.rawValue, payload: bytes)
        #expect(decoded == event)
    }

    @Test("encoding is deterministic")
    func encodingIsDeterministic() {
        for event in Fixtures.everyKind {
            #expect(EventCodec.encode(event) == EventCodec.encode(event))
        }
    }

    @Test("decoding a payload inside a larger buffer reads only its range")
    func decodesFromARange() throws {
        let event = Fixtures.everyKind[0]
        let payload = EventCodec.encode(event)
        let buffer: [UInt8] = [0xFF, 0xFF] + payload + [0xEE]
        let decoded = try EventCodec.decode(kind: event.kind.rawValue, payload: buffer, range: 2..<(2 + payload.count))
        #expect(decoded == event)
    }

    @Test("every truncation of an encoded event throws instead of trapping", arguments: Fixtures.everyKind)
    func everyTruncationThrows(event: Event) {
        let bytes = EventCodec.encode(event)
        for length in 0..<bytes.count {
            #expect(throws: CodecError.self) {
                try EventCodec.decode(kind: event.kind.rawValue, payload: Array(bytes[0..<length]))
            }
        }
    }

    @Test("trailing bytes after a complete payload are rejected")
    func trailingBytesThrow() {
        let event = Fixtures.everyKind[3]
        #expect(throws: CodecError.trailingBytes(count: 1)) {
            try EventCodec.decode(kind: event.kind.rawValue, payload: EventCodec.encode(event) + [0])
        }
    }

    @Test("an unknown kind number throws unknownKind")
    func unknownKindThrows() {
        #expect(throws: CodecError.unknownKind(999)) {
            try EventCodec.decode(kind: 999, payload: [EventCodec.formatVersion])
        }
        #expect(throws: CodecError.unknownKind(0)) {
            try EventCodec.decode(kind: 0, payload: [EventCodec.formatVersion])
        }
    }

    @Test("an alert_triggered carries the rule's condition and threshold as it fired")
    func alertTriggeredCarriesTheRule() throws {
        let rule = AlertRule(id: "r1", user: "alice", code: "000768", condition: .above, threshold: 4.5)
        let event = Event.alertTriggered(AlertTriggered(firing: rule, at: 4.6))
        let decoded = try EventCodec.decode(kind: event.kind.rawValue, payload: EventCodec.encode(event))
        guard case .alertTriggered(let triggered) = decoded else {
            Issue.record("decoded \(decoded)")
            return
        }
        #expect(triggered.condition == .above)
        #expect(triggered.threshold == 4.5)
    }

    @Test("an alert_triggered of format 1 (no condition, no threshold) still decodes, without them")
    func formatOneAlertTriggeredDecodes() throws {
        let rule = AlertRule(id: "r1", user: "alice", code: "000768", condition: .below, threshold: 3)
        let event = Event.alertTriggered(AlertTriggered(firing: rule, at: 2.9))
        let old = try formatOneAlertTriggered(from: EventCodec.encode(event))
        #expect(try EventCodec.decode(kind: event.kind.rawValue, payload: old)
            == .alertTriggered(AlertTriggered(ruleID: "r1", user: "alice", code: "000768", price: 2.9)))
    }

    @Test("a signals_replaced of format 2 (no added codes) still decodes, without them")
    func formatTwoSignalsReplacedDecodes() throws {
        let list = [Signal(code: "600100", name: "同方股份")]
        let event = Event.signalsReplaced(SignalsReplaced(strategy: "s1", replacing: list, with: list))
        let old = try formatTwoSignalsReplaced(from: EventCodec.encode(event))
        #expect(try EventCodec.decode(kind: event.kind.rawValue, payload: old)
            == .signalsReplaced(SignalsReplaced(strategy: "s1", signals: list)))
        var formatOne = old
        formatOne[0] = 1
        #expect(try EventCodec.decode(kind: event.kind.rawValue, payload: formatOne)
            == .signalsReplaced(SignalsReplaced(strategy: "s1", signals: list)))
    }

    @Test("a format 1 payload of a kind no later format changed decodes as before")
    func formatOnePayloadsOfOtherKindsDecode() throws {
        for event in Fixtures.everyKind where event.kind != .alertTriggered && event.kind != .signalsReplaced {
            var old = EventCodec.encode(event)
            old[0] = 1
            #expect(try EventCodec.decode(kind: event.kind.rawValue, payload: old) == event)
        }
    }

    @Test("a newer format version throws unsupportedVersion")
    func newerVersionThrows() {
        var bytes = EventCodec.encode(.priceTicked(Fixtures.tick))
        bytes[0] = EventCodec.formatVersion + 1
        #expect(throws: CodecError.unsupportedVersion(found: EventCodec.formatVersion + 1, supported: EventCodec.formatVersion)) {
            try EventCodec.decode(kind: EventKind.priceTicked.rawValue, payload: bytes)
        }
    }

    @Test("an unknown enum byte throws unknownEnumValue")
    func unknownEnumByteThrows() {
        let event = Event.clientDisconnected(ClientDisconnected(clientID: "c", reason: .closed, resumeDeadline: 0))
        var bytes = EventCodec.encode(event)
        // Layout: version, len(1), "c", reason byte, deadline.
        bytes[3] = 0x7F
        #expect(throws: CodecError.unknownEnumValue(type: "DisconnectReason", raw: 0x7F)) {
            try EventCodec.decode(kind: event.kind.rawValue, payload: bytes)
        }
    }

    @Test("invalid UTF-8 in a string throws invalidUTF8")
    func invalidUTF8Throws() {
        let bytes: [UInt8] = [EventCodec.formatVersion, 2, 0xC3, 0x28]
        #expect(throws: CodecError.invalidUTF8(offset: 2)) {
            try EventCodec.decode(kind: EventKind.sessionExpired.rawValue, payload: bytes)
        }
    }

    @Test("a string length larger than the payload throws truncated without allocating it")
    func hugeLengthThrows() {
        let bytes: [UInt8] = [EventCodec.formatVersion, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]
        #expect(throws: CodecError.self) {
            try EventCodec.decode(kind: EventKind.sessionExpired.rawValue, payload: bytes)
        }
    }

    @Test("every single-byte corruption either decodes or throws, never traps")
    func byteFlipsNeverTrap() {
        for event in Fixtures.everyKind {
            let bytes = EventCodec.encode(event)
            for index in bytes.indices {
                for value: UInt8 in [0x00, 0x01, 0x7F, 0x80, 0xFF] {
                    var corrupt = bytes
                    corrupt[index] = value
                    _ = try? EventCodec.decode(kind: event.kind.rawValue, payload: corrupt)
                }
            }
        }
    }

    @Test("NaN and negative zero keep their exact bit patterns")
    func doublesKeepBitPatterns() throws {
        let tick = PriceTick(code: "1", name: "", price: -0.0, volume: 0, prevClose: .nan, timestamp: 0)
        let decoded = try EventCodec.decode(kind: EventKind.priceTicked.rawValue, payload: EventCodec.encode(.priceTicked(tick)))
        guard case .priceTicked(let back) = decoded else {
            Issue.record("decoded \(decoded)")
            return
        }
        #expect(back.price.bitPattern == (-0.0 as Double).bitPattern)
        #expect(back.prevClose.bitPattern == Double.nan.bitPattern)
    }
}

@Suite("Binary reader and writer")
struct BinaryFormatTests {
    @Test("varints round-trip across the whole UInt64 range")
    func varintsRoundTrip() throws {
        let values: [UInt64] = [0, 1, 127, 128, 300, 16_383, 16_384, UInt64(UInt32.max), UInt64.max - 1, UInt64.max]
        var writer = BinaryWriter()
        for value in values { writer.write(varint: value) }
        var reader = BinaryReader(writer.bytes)
        for value in values { #expect(try reader.readVarint() == value) }
        #expect(reader.isAtEnd)
    }

    @Test("signed varints round-trip including the extremes")
    func signedRoundTrip() throws {
        let values: [Int64] = [0, -1, 1, -64, 64, Int64.min, Int64.max]
        var writer = BinaryWriter()
        for value in values { writer.write(signed: value) }
        #expect(writer.bytes.prefix(3) == [0, 1, 2])
        var reader = BinaryReader(writer.bytes)
        for value in values { #expect(try reader.readSigned() == value) }
    }

    @Test("a varint longer than 64 bits throws varintOverflow")
    func varintOverflowThrows() {
        var tooLong = BinaryReader([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02])
        #expect(throws: CodecError.varintOverflow(offset: 0)) { try tooLong.readVarint() }
        var endless = BinaryReader([UInt8](repeating: 0x80, count: 11) + [0])
        #expect(throws: CodecError.varintOverflow(offset: 0)) { try endless.readVarint() }
    }

    @Test("a bool byte other than 0 or 1 throws")
    func badBoolThrows() {
        var reader = BinaryReader([2])
        #expect(throws: CodecError.unknownEnumValue(type: "Bool", raw: 2)) { try reader.readBool() }
    }

    @Test("reading past the end of a sub-range throws truncated")
    func rangeIsRespected() {
        var reader = BinaryReader([1, 2, 3, 4], range: 1..<2)
        #expect(throws: Never.self) { try reader.readByte() }
        #expect(throws: CodecError.truncated(offset: 2, needed: 1)) { try reader.readByte() }
    }
}

@Suite("Event model")
struct EventModelTests {
    @Test("kind names round-trip and raw values are the on-disk numbers")
    func kindNamesAndRawValues() {
        #expect(EventKind.allCases.map(\.rawValue) == Array(1...13))
        for kind in EventKind.allCases {
            #expect(EventKind(name: kind.name) == kind)
        }
        #expect(EventKind.priceTicked.name == "price_ticked")
        #expect(EventKind(name: "nope") == nil)
    }

    @Test("key is the journal subject of each kind")
    func keysNameTheSubject() {
        #expect(Fixtures.everyKind[0].key == "client_1a2b3c4d")
        #expect(Event.priceTicked(Fixtures.tick).key == "600000")
        #expect(Event.alertRuleSet(Fixtures.rule("r")).key == "alice")
        #expect(Event.newsPublished(Fixtures.news("n9")).key == "n9")
        #expect(Fixtures.signals("vw", ["600000"]).key == "vw")
    }

    @Test("change and change percent derive from prev close, both 0 when it is unknown")
    func changePercent() {
        let tick = Fixtures.tick("600000", price: 11, prevClose: 10)
        #expect(tick.change == 1)
        #expect(abs(tick.changePercent - 10) < 1e-9)
        let unknown = Fixtures.tick("600000", price: 11, prevClose: 0)
        #expect(unknown.changePercent == 0)
        #expect(unknown.change == 0, "not the whole price")
    }

    @Test("JSON round-trips with snake_case kind and keys")
    func jsonRoundTrip() throws {
        for event in Fixtures.everyKind {
            let data = try JSONEncoder().encode(event)
            #expect(try JSONDecoder().decode(Event.self, from: data) == event)
        }
        let json = String(decoding: try JSONEncoder().encode(Event.priceTicked(Fixtures.tick)), as: UTF8.self)
        #expect(json.contains("\"kind\":\"price_ticked\""))
        #expect(json.contains("\"prev_close\""))
    }

    @Test("an alert_triggered's JSON names the rule's condition and threshold, and leaves them out when unknown")
    func alertTriggeredJSON() throws {
        let rule = AlertRule(id: "r1", user: "alice", code: "000768", condition: .changePercent, threshold: 5)
        let fired = String(decoding: try JSONEncoder().encode(Event.alertTriggered(AlertTriggered(firing: rule, at: 4.6))), as: UTF8.self)
        #expect(fired.contains("\"condition\":\"change_pct\""))
        #expect(fired.contains("\"threshold\":5"))
        let old = String(decoding: try JSONEncoder().encode(
            Event.alertTriggered(AlertTriggered(ruleID: "r1", user: "alice", code: "000768", price: 4.6))), as: UTF8.self)
        #expect(!old.contains("condition"))
        #expect(!old.contains("threshold"))
    }

    @Test("a signals_replaced's JSON names the added codes, and leaves them out when unknown")
    func signalsReplacedJSON() throws {
        let list = [Signal(code: "600300", name: "维科技术")]
        let replaced = String(decoding: try JSONEncoder().encode(
            Event.signalsReplaced(SignalsReplaced(strategy: "s1", replacing: [], with: list))), as: UTF8.self)
        #expect(replaced.contains(#""added_codes":["600300"]"#))
        let old = String(decoding: try JSONEncoder().encode(Event.signalsReplaced(SignalsReplaced(strategy: "s1", signals: list))), as: UTF8.self)
        #expect(!old.contains("added_codes"))
    }
}
