import Broker
import Publishers

/// A deterministic stream of realistic events: a few thousand A-share codes ticking, clients
/// coming and going with subscriptions, bars, news and alert rules in between.
struct SyntheticMarket {
    private var random: SplitMix64
    private let codes: [String]
    private var prices: [Double]
    private var clients = 0
    private var news = 0
    private var sequence = 0

    init(codeCount: Int = 5_000, seed: UInt64 = 1) {
        random = SplitMix64(seed: seed)
        codes = (0..<codeCount).map { n in
            let prefix = ["600", "601", "000", "002", "300", "688"][n % 6]
            return prefix + String(repeating: "0", count: max(0, 3 - String(n / 6).count)) + String(n / 6 % 1000)
        }
        prices = codes.indices.map { Double(500 + $0 % 2_000) / 10 }
    }

    /// The next `count` events.
    mutating func next(_ count: Int) -> [Event] {
        (0..<count).map { _ in next() }
    }

    mutating func next() -> Event {
        sequence += 1
        let roll = random.next() % 1_000
        switch roll {
        case 0..<10:
            clients += 1
            return .clientConnected(ClientConnected(
                clientID: clientID(clients), user: "user\(clients % 100)", remoteAddress: "10.0.0.\(clients % 250)", node: "bench"))
        case 10..<40 where clients > 0:
            let code = codes[Int(random.next() % UInt64(codes.count))]
            let subscription = roll < 30
                ? Subscription(type: .stock, target: code)
                : Subscription(type: .strategy, target: "strategy_\(random.next() % 10)")
            return .subscribed(SubscriptionChange(clientID: clientID(1 + Int(random.next() % UInt64(clients))), subscription: subscription))
        case 40..<45 where clients > 0:
            return .clientDisconnected(ClientDisconnected(
                clientID: clientID(1 + Int(random.next() % UInt64(clients))), reason: .closed, resumeDeadline: Int64(sequence) + 300_000_000))
        case 45..<50:
            news += 1
            return .newsPublished(NewsItem(
                id: "news-\(news)", title: "Market headline \(news)", summary: "Summary of item \(news)",
                url: "https://news.example/\(news)", codes: [codes[news % codes.count]], category: "company", publishedAt: Int64(sequence)))
        case 50..<80:
            let index = Int(random.next() % UInt64(codes.count))
            let price = prices[index]
            return .klineUpdated(KlineBar(
                code: codes[index], period: "1m", open: price, high: price * 1.01, low: price * 0.99, close: price,
                volume: 1_000, start: Int64(sequence / 60 * 60_000_000), closed: roll < 55))
        default:
            let index = Int(random.next() % UInt64(codes.count))
            let step = (Double(random.next() % 201) - 100) / 10_000
            prices[index] = max(0.01, prices[index] * (1 + step))
            return .priceTicked(PriceTick(
                code: codes[index], name: "Stock \(index)", price: prices[index], volume: Int64(random.next() % 10_000_000),
                prevClose: Double(500 + index % 2_000) / 10, timestamp: Int64(sequence)))
        }
    }

    private func clientID(_ n: Int) -> String {
        let hex = String(n, radix: 16)
        return "client_" + String(repeating: "0", count: max(0, 8 - hex.count)) + hex
    }
}
