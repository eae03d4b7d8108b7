import Foundation
import Testing

/// The README's client example is the built example's code, so it cannot rot unnoticed.
struct ReadmeExampleTests {
    private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theReadmeShowsTheExampleThatIsBuilt() throws {
        let example = try String(contentsOf: root.appendingPathComponent("Examples/price-watch/main.swift"), encoding: .utf8)
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try #require(example.range(of: "// README: Swift client\n"))
        let end = try #require(example.range(of: "// README end"))
        let snippet = example[start.upperBound..<end.lowerBound].trimmingCharacters(in: .newlines)
        #expect(readme.contains("```swift\n" + snippet + "\n```"))
    }
}
