import Broker
import Foundation
import NIOCore
import TestSupport
import Testing

@testable import brokerd

/// The price update encoder writes what `JSONEncoder` writes, byte for byte.
@Suite struct PriceUpdateJSONTests {
    private func update(_ entries: [ServerMessage.PriceEntry], target: String = "volume_wave") -> ServerMessage.PriceUpdate {
        ServerMessage.PriceUpdate(entries: entries, seq: 4_294_967_297, subscription: Subscription(type: .strategy, target: target))
    }

    private func entry(code: String = "600519", name: String = "贵州茅台", price: Double, prevClose: Double = 10, volume: Int64 = 1) -> ServerMessage.PriceEntry {
        ServerMessage.PriceEntry(PriceTick(code: code, name: name, price: price, volume: volume, prevClose: prevClose, timestamp: 1_764_000_000_123_456))
    }

    private func expectSameBytes(_ update: ServerMessage.PriceUpdate, sourceLocation: SourceLocation = #_sourceLocation) {
        let fast = String(buffer: ServerMessage.encode(update))
        let foundation = String(buffer: ServerMessage.encodeWithFoundation(update))
        #expect(fast == foundation, sourceLocation: sourceLocation)
    }

    @Test func aTypicalUpdate() throws {
        let update = update([entry(price: 1850.5, prevClose: 1800), entry(code: "000001", name: "平安银行", price: 12, prevClose: 12.34)])
        expectSameBytes(update)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: ServerMessage.encode(update)).utf8)) as? [String: Any])
        #expect(json["type"] as? String == "price_update")
        #expect(json["count"] as? Int == 2)
        #expect((json["data"] as? [[String: Any]])?.first?["price"] as? Double == 1850.5)
    }

    @Test func anEmptyUpdate() {
        expectSameBytes(update([]))
    }

    @Test func numbersOfEveryMagnitude() {
        let prices: [Double] = [
            0, -0.0, 1, -1, 0.1, 0.01, 0.001, 0.0001, 0.00001, 1e-7, 123_456_789, 1e15, 1e16, 1e17, 1e21, 1.5e300, -2.5e-300,
            .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1850.123456789, 3.3333333333333335,
        ]
        expectSameBytes(update(prices.map { entry(price: $0, prevClose: 3) }))
        expectSameBytes(update([entry(price: 1, volume: .max), entry(price: 2, volume: .min), entry(price: 3, volume: 0)]))
    }

    @Test func stringsThatNeedEscapes() {
        let names = ["a\"b", #"back\slash"#, "slash/es", "tab\there", "new\nline", "cr\r", "\u{08}\u{0C}", "\u{00}\u{01}\u{1F}\u{7F}", "é😀", ""]
        expectSameBytes(update(names.map { entry(name: $0, price: 1) }, target: "a/\"b\"\\c"))
    }

    @Test(arguments: 1...20 as ClosedRange<UInt64>) func randomUpdates(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let entries = (0..<Int.random(in: 1...60, using: &random)).map { _ in
            let price = Double.random(in: 0.01...5_000, using: &random)
            let prevClose = Bool.random(using: &random) ? price : Double.random(in: 0.01...5_000, using: &random)
            let scale = [1.0, 100, 1_000, 1e-3][Int.random(in: 0..<4, using: &random)]
            return entry(
                code: String(Int.random(in: 0...999_999, using: &random)), price: (price * scale).rounded() / scale, prevClose: prevClose,
                volume: Int64.random(in: 0...10_000_000_000, using: &random))
        }
        expectSameBytes(update(entries))
    }

    @Test func nonFiniteNumbersGetWhatJSONEncoderGives() {
        expectSameBytes(update([entry(price: .nan)]))
        expectSameBytes(update([entry(price: .infinity)]))
    }
}

/// `GET /api/prices` bodies written straight are what `JSONResponse` would encode, byte for byte.
@Suite struct PricesBodyJSONTests {
    private let entries = [
        ServerMessage.PriceEntry(PriceTick(code: "600519", name: "贵州\"茅台\"", price: 1850.5, volume: 12, prevClose: 1825.2, timestamp: 1_764_000_000_123_456)),
        ServerMessage.PriceEntry(PriceTick(code: "000001", name: "平安/银行", price: 12, volume: 0, prevClose: 12.34, timestamp: 1)),
    ]

    private func expectSameBytes(_ body: PricesBody, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(String(buffer: body.json) == String(decoding: JSONResponse.encode(body), as: UTF8.self), sourceLocation: sourceLocation)
    }

    @Test func everyShapeOfTheBody() {
        expectSameBytes(PricesBody(strategy: nil, market: nil, count: 2, seq: 9, prices: entries, unknown: ["600000", "a\\b"]))
        expectSameBytes(PricesBody(strategy: "量能 wave", market: nil, count: 1, seq: 10, prices: Array(entries.prefix(1)), unknown: []))
        expectSameBytes(PricesBody(strategy: nil, market: "sh", count: 0, seq: 0, prices: [], unknown: nil))
    }

    @Test func aNumberJSONCannotHoldFallsBackToTheEncoder() {
        let infinite = ServerMessage.PriceEntry(PriceTick(code: "1", name: "x", price: .infinity, volume: 0, prevClose: 1, timestamp: 0))
        let body = PricesBody(strategy: nil, market: "sh", count: 1, seq: 1, prices: [infinite], unknown: nil)
        #expect(String(buffer: body.json) == String(decoding: JSONResponse.encode(body), as: UTF8.self))
    }
}

/// `GET /api/news` bodies written straight are what `JSONResponse` would encode, byte for byte.
@Suite struct NewsListBodyJSONTests {
    private func expectSameBytes(_ body: NewsListBody, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(String(buffer: body.json) == String(decoding: JSONResponse.encode(body), as: UTF8.self), sourceLocation: sourceLocation)
    }

    private func row(_ item: NewsItem, seq: UInt64) -> NewsListBody.Row {
        NewsListBody.Row(entry: NewsEntry(seq: seq, item: item))
    }

    @Test func everyShapeOfTheBody() {
        let items = [
            NewsItem(
                id: "n-1", title: "贵州\"茅台\" 涨停", summary: "line\nbreak\ttab \u{1}\\ end", url: "https://example.com/a/b?c=1&d=2",
                codes: ["600519", "000001"], category: "company", publishedAt: 1_764_000_000_123_456),
            NewsItem(id: "", title: "", summary: "", url: "", codes: [], category: "", publishedAt: 0),
            NewsItem(id: "n-3", title: "💥 emoji", summary: "\u{7f}\u{2028}", url: "/", codes: ["x"], category: "macro", publishedAt: -5),
        ]
        expectSameBytes(NewsListBody(count: 0, seq: 0, news: []))
        expectSameBytes(NewsListBody(count: 7, seq: 42, news: items.enumerated().map { row($1, seq: UInt64($0 + 40)) }))
    }

    @Test func randomItemsEncodeAsTheEncoderDoes() {
        var random = SystemRandomNumberGenerator()
        let alphabet = Array("ab\"\\/\n\t\u{0}\u{1f} 中文😀")
        func text() -> String { String((0..<Int.random(in: 0...12, using: &random)).map { _ in alphabet.randomElement(using: &random)! }) }
        for _ in 0..<50 {
            let news = (0..<Int.random(in: 0...5, using: &random)).map { index in
                row(
                    NewsItem(
                        id: text(), title: text(), summary: text(), url: text(), codes: (0..<Int.random(in: 0...3, using: &random)).map { _ in text() },
                        category: text(), publishedAt: Int64.random(in: .min ... .max, using: &random)),
                    seq: UInt64.random(in: 0...UInt64.max, using: &random))
            }
            expectSameBytes(NewsListBody(count: Int.random(in: 0...1_000, using: &random), seq: UInt64.random(in: 0...1_000_000, using: &random), news: news))
        }
    }
}
