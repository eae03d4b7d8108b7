import Foundation
import Testing

@testable import Publishers

/// The scanner must read every message it answers for exactly as JSONDecoder does, and leave the
/// rest to it.
@Suite struct TickJSONScannerTests {
    private func decoded(_ json: String) -> WirePayload? {
        try? JSONDecoder().decode(WirePayload.self, from: Data(json.utf8))
    }

    private func scanned(_ json: String) -> WirePayload? {
        TickJSONScanner.scan(Array(json.utf8))
    }

    /// A random tick as a JSON object, fields in random order, numbers in several spellings.
    private func randomTick(_ random: inout SystemRandomNumberGenerator) -> String {
        let codes = ["600519", "000001", "AAPL", "BRK.B", "300750"]
        let names = ["贵州茅台", "平安银行", "Apple Inc", "宁德时代", ""]
        var fields = [#""code":"\#(codes.randomElement(using: &random)!)""#]
        let price = Double.random(in: 0.01...5000, using: &random)
        fields.append(#""price":\#([String(price), String(format: "%.2f", price), "\(Int(price) + 1)", "1.5e2"].randomElement(using: &random)!)"#)
        if Bool.random(using: &random) { fields.append(#""name":"\#(names.randomElement(using: &random)!)""#) }
        if Bool.random(using: &random) { fields.append(#""volume":\#(Int64.random(in: 0...9_000_000_000, using: &random))"#) }
        if Bool.random(using: &random) { fields.append(#""prev_close":\#(Double.random(in: 1...5000, using: &random))"#) }
        if Bool.random(using: &random) { fields.append(#""timestamp":\#(Int64.random(in: 0...1_800_000_000_000_000, using: &random))"#) }
        let spaces = ["", " ", "\n  "]
        return "{" + fields.shuffled(using: &random).joined(separator: "," + spaces.randomElement(using: &random)!) + "}"
    }

    @Test func generatedMessagesReadExactlyAsJSONDecoderReadsThem() throws {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let ticks = (0..<Int.random(in: 0...6, using: &random)).map { _ in randomTick(&random) }
            let message: String = switch Int.random(in: 0..<3, using: &random) {
            case 0: "[" + ticks.joined(separator: ", ") + "]"
            case 1: ticks.first ?? "[]"
            default: #"{"ticks":[\#(ticks.joined(separator: ","))],"node":"a","instance":"i1"}"#
            }
            let expected = try #require(decoded(message), "JSONDecoder reads \(message)")
            #expect(scanned(message) == expected, "\(message)")
        }
    }

    @Test func whatItIsNotSureOfIsLeftToJSONDecoder() {
        for message in [
            #"{"code":"60\u0035","price":1}"#,  // an escape
            #"{"code":"600519","price":1,"name":null}"#,  // null
            #"{"code":"600519","price":1,"extra":true}"#,  // an unknown key
            #"{"code":"600519","price":1,"price":2}"#,  // a repeated key
            #"{"code":"600519","price":1,"volume":1e3}"#,  // an integer in another spelling
            #"{"code":"600519","price":1,"timestamp":"2026-11-23"}"#,  // a lenient field of another type
            #"{"node":"a","ticks":[]}"#,  // the wrapper with another key first
            #"{"code":"600519","price":01}"#,  // not JSON
            #"[{"code":"600519","price":1},]"#,  // not JSON
            #"{"code":"600519","price":1} x"#,  // trailing garbage
            #"{"code":"600519"}"#,  // no price
        ] {
            #expect(scanned(message) == nil, "\(message)")
        }
    }

    @Test func bytesThatAreNotUTF8AreNotReadAsText() {
        let prefix = Array(#"{"code":"600519","name":""#.utf8)
        let suffix = Array(#"","price":1}"#.utf8)
        for invalid: [UInt8] in [[0xFF], [0xC3, 0x28], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0x41, 0x80]] {
            #expect(TickJSONScanner.scan(prefix + invalid + suffix) == nil, "\(invalid)")
        }
        // The same shape with valid text is read.
        #expect(TickJSONScanner.scan(prefix + Array("茅台".utf8) + suffix)?.ticks.first?.name == "茅台")
    }

    @Test func theDecoderGivesTheSameTicksAndErrorsWithTheScannerInFront() {
        let decoder = TickPayloadDecoder(limits: .init())
        let fast = decoder.decode(json: Array(#"[{"code":"600519","name":"贵州茅台","price":1850.5,"volume":100,"prev_close":1800}]"#.utf8), timestamp: 7)
        #expect(fast.ticks.map(\.price) == [1850.5])
        #expect(fast.ticks.first?.name == "贵州茅台" && fast.ticks.first?.timestamp == 7)
        let refused = decoder.decode(json: Array(#"{"code":"600519"}"#.utf8), timestamp: 7)
        #expect(refused.ticks.isEmpty)
        #expect(refused.problems.first?.contains("missing 'price'") == true, "\(refused.problems)")
    }
}
