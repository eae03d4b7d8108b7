import Testing

@testable import Broker

@Suite("FieldRules")
struct FieldRulesTests {
    @Test("control characters are found from the bytes exactly where Unicode's general category says Cc")
    func controlCharactersMatchTheUnicodeCategory() {
        var disagreements: [UInt32] = []
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let expected = scalar.properties.generalCategory == .control
            // Alone, and between characters of one, two and four UTF-8 bytes, so the byte after a
            // 0xC2 lead (U+0080…U+00BF) is read in context.
            for text in [String(Character(scalar)), "a\u{00A0}\(Character(scalar))茅\u{1F600}"]
            where FieldRules.hasControlCharacters(text) != expected {
                disagreements.append(value)
            }
        }
        #expect(disagreements.isEmpty, "disagrees with the Unicode category at \(disagreements.prefix(10).map { String($0, radix: 16) })")
    }

    @Test("names of real tickers have no control characters; line breaks, escapes and C1 controls are found anywhere")
    func controlCharactersInNames() {
        for name in ["贵州茅台", "*ST 华仪", "N 中芯", "Ping An Bank", "", "\u{00A0}\u{00BF}\u{00C2}"] {
            #expect(!FieldRules.hasControlCharacters(name), "\(name)")
        }
        for name in ["贵州\n茅台", "\u{1B}[31m红", "tab\t", "del\u{7F}", "c1\u{0085}", "\u{009F}", "\u{0000}"] {
            #expect(FieldRules.hasControlCharacters(name), "\(name.unicodeScalars.map { $0.value })")
        }
    }
}
