/// Reads the common tick messages without Foundation: a tick object, an array of them, or
/// `{"ticks":[...],"node":…,"instance":…}`, with plain strings and numbers.
///
/// It answers only when it is sure to read the message exactly as `JSONDecoder` would; anything
/// else — an escape in a string, `null`, an unknown or repeated key, a number of an unusual form,
/// malformed JSON — returns nil, and the caller decodes with `JSONDecoder` (which also words the
/// errors). Tested against `JSONDecoder` on generated messages.
enum TickJSONScanner {
    static func scan(_ bytes: [UInt8]) -> WirePayload? {
        bytes.withUnsafeBufferPointer { buffer in
            var scanner = Cursor(bytes: buffer)
            guard let payload = scanner.payload(), scanner.atEnd() else { return nil }
            return payload
        }
    }

    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
        }

        mutating func payload() -> WirePayload? {
            skipSpace()
            switch peek() {
            case UInt8(ascii: "["):
                return ticks().map { WirePayload(ticks: $0) }
            case UInt8(ascii: "{"):
                // `{"ticks":…}` or one tick: decide on the first key.
                let start = index
                index += 1
                skipSpace()
                guard let first = string() else { return nil }
                index = start
                return first == "ticks" ? wrapped() : tick().map { WirePayload(ticks: [$0]) }
            default:
                return nil
            }
        }

        mutating func atEnd() -> Bool {
            skipSpace()
            return index == bytes.count
        }

        private mutating func wrapped() -> WirePayload? {
            guard take(UInt8(ascii: "{")) else { return nil }
            var ticks: [WireTick]?
            var node: String?
            var instance: String?
            repeat {
                skipSpace()
                guard let key = string(), take(UInt8(ascii: ":")) else { return nil }
                skipSpace()
                switch key {
                case "ticks" where ticks == nil: guard let value = self.ticks() else { return nil }; ticks = value
                case "node" where node == nil: guard let value = string() else { return nil }; node = value
                case "instance" where instance == nil: guard let value = string() else { return nil }; instance = value
                default: return nil
                }
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "}")), let ticks else { return nil }
            return WirePayload(ticks: ticks, node: node, instance: instance)
        }

        private mutating func ticks() -> [WireTick]? {
            guard take(UInt8(ascii: "[")) else { return nil }
            var ticks: [WireTick] = []
            if take(UInt8(ascii: "]")) { return ticks }
            repeat {
                guard let tick = tick() else { return nil }
                ticks.append(tick)
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "]")) ? ticks : nil
        }

        private mutating func tick() -> WireTick? {
            guard take(UInt8(ascii: "{")) else { return nil }
            var code: String?
            var name: String?
            var price: Double?
            var volume: Int64?
            var prevClose: Double?
            var timestamp: Int64?
            var seenTimestamp = false
            repeat {
                skipSpace()
                guard let key = string(), take(UInt8(ascii: ":")) else { return nil }
                skipSpace()
                switch key {
                case "code" where code == nil: guard let value = string() else { return nil }; code = value
                case "name" where name == nil: guard let value = string() else { return nil }; name = value
                case "price" where price == nil: guard let value = number() else { return nil }; price = value.double
                case "volume" where volume == nil:
                    guard let value = number(), let whole = value.integer else { return nil }
                    volume = whole
                case "prev_close" where prevClose == nil: guard let value = number() else { return nil }; prevClose = value.double
                case "timestamp" where !seenTimestamp:
                    // JSONDecoder reads it leniently (`try?` Int64); only the plain integer form is
                    // certain to read the same, anything else is left to it.
                    guard let value = number(), let whole = value.integer else { return nil }
                    timestamp = whole
                    seenTimestamp = true
                default:
                    return nil
                }
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "}")), let code, let price else { return nil }
            return WireTick(code: code, name: name, price: price, volume: volume, prevClose: prevClose, timestamp: timestamp)
        }

        /// A string without escapes or control characters; nil (give up) otherwise.
        private mutating func string() -> String? {
            skipSpace()
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            var highBits: UInt8 = 0
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let utf8 = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    // ASCII is valid UTF-8 as it is; `String(validating:)` is unspecialised generic
                    // code that cost 7 % of the broker's CPU at 50,000 ticks/s, so only text with
                    // other characters (names) takes it.
                    let text = highBits < 0x80 ? String(decoding: utf8, as: UTF8.self) : String(validating: utf8, as: UTF8.self)
                    index += 1
                    return text
                }
                highBits |= byte
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
                index += 1
            }
            return nil
        }

        /// A JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
        private mutating func number() -> (double: Double, integer: Int64?)? {
            skipSpace()
            let start = index
            _ = take(UInt8(ascii: "-"), skippingSpace: false)
            guard let first = peek(), isDigit(first) else { return nil }
            index += 1
            if first != UInt8(ascii: "0") { skipDigits() }
            var isInteger = true
            if take(UInt8(ascii: "."), skippingSpace: false) {
                isInteger = false
                guard skipDigits() > 0 else { return nil }
            }
            if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
                isInteger = false
                index += 1
                if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { index += 1 }
                guard skipDigits() > 0 else { return nil }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard let double = Double(text), double.isFinite else { return nil }
            if isInteger {
                // An integer too large for Int64 is left to JSONDecoder.
                guard let integer = Int64(text) else { return nil }
                return (double, integer)
            }
            return (double, nil)
        }

        @discardableResult
        private mutating func skipDigits() -> Int {
            let start = index
            while let byte = peek(), isDigit(byte) { index += 1 }
            return index - start
        }

        private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        private mutating func take(_ byte: UInt8, skippingSpace: Bool = true) -> Bool {
            if skippingSpace { skipSpace() }
            guard peek() == byte else { return false }
            index += 1
            return true
        }

        private mutating func skipSpace() {
            while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
        }
    }
}
