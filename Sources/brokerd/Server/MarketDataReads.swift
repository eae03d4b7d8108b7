import Broker
import Foundation
import Hummingbird
import HummingbirdCore

/// The market data the broker holds, over HTTP: the latest price of codes, the latest bar of each
/// period of a code, the recent news. What a subscriber is pushed, for an app's first screen, a
/// page that does not hold a WebSocket, or a script.
enum MarketDataReads {
    /// What `GET /api/prices` asks for: exactly one of `?codes=`, `?strategy=` and `?market=`.
    enum PriceQuery: Equatable, Sendable {
        /// Codes as asked for, each once, in the order given.
        case codes([String])
        case strategy(String)
        case market(Board)
    }

    /// What `GET /api/klines` asks for.
    struct BarQuery: Equatable, Sendable {
        var code: String
        /// One period; nil for every period.
        var period: String?
    }

    /// What `GET /api/news` asks for.
    struct NewsQuery: Equatable, Sendable {
        /// Items of this category only; nil (or `all`) for every category.
        var category: String?
        /// Items tagged with this code only.
        var code: String?
        var limit = MarketDataReads.defaultNewsLimit
    }

    /// As many codes as one `subscribe` may name.
    static let maxCodes = ClientRequest.maxTargets
    static let defaultNewsLimit = 50
    /// Every bar period, the shortest first: the order of a code's bars.
    static let barPeriods = ["1m", "5m", "15m", "30m", "60m", "1d", "1w"]

    /// The query of `GET /api/prices`; a missing, doubled or bad parameter is refused.
    static func priceQuery(_ uri: URI) throws -> PriceQuery {
        let given = ["codes", "strategy", "market"].compactMap { name in uri.formValue(name).map { (name: name, value: $0) } }
        guard let (name, value) = given.first, given.count == 1 else {
            throw APIError.badRequest(
                "missing_query",
                given.isEmpty
                    ? "add one of ?codes=600519,000001, ?strategy=<name> or ?market=sh|sz|bj"
                    : "give one of codes, strategy and market, not \(given.map(\.name).joined(separator: " and "))")
        }
        switch name {
        case "codes":
            let codes = value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard codes.count <= maxCodes else {
                throw APIError.badRequest("too_many_codes", "at most \(maxCodes) codes at once, got \(codes.count)")
            }
            if let bad = codes.first(where: { !FieldRules.isValidCode($0) }) {
                throw APIError.badRequest("invalid_code", "\(quoted(bad)) is not a code: use 1-16 letters, digits or dots, separated by commas")
            }
            var seen = Set<String>()
            return .codes(codes.filter { seen.insert($0).inserted })
        case "strategy":
            if let problem = FieldRules.identifierProblem(value, maxLength: Limits().maxTargetLength) {
                throw APIError.badRequest("invalid_strategy", "strategy \(problem)")
            }
            return .strategy(value)
        default:
            guard let board = Board(rawValue: value) else {
                let boards = Board.allCases.map(\.rawValue).joined(separator: ", ")
                throw APIError.badRequest("invalid_market", "market must be one of \(boards), got \(quoted(value))")
            }
            return .market(board)
        }
    }

    /// The query of `GET /api/klines`: `?code=` required, `?period=` one of the bar periods.
    static func barQuery(_ uri: URI) throws -> BarQuery {
        guard let code = try uri.codeValue() else { throw APIError.badRequest("missing_code", "add ?code=<code>, e.g. ?code=600519") }
        guard let period = uri.formValue("period") else { return BarQuery(code: code) }
        guard barPeriods.contains(period) else {
            throw APIError.badRequest("invalid_period", "period must be one of \(barPeriods.joined(separator: ", ")), got \(quoted(period))")
        }
        return BarQuery(code: code, period: period)
    }

    /// The query of `GET /api/news[?category=&code=&limit=]`.
    static func newsQuery(_ uri: URI) throws -> NewsQuery {
        var query = NewsQuery()
        if let category = uri.formValue("category"), category != "all" {
            if let problem = FieldRules.identifierProblem(category, maxLength: Limits().maxTargetLength) {
                throw APIError.badRequest("invalid_category", "category \(problem); leave it out (or send all) for every category")
            }
            query.category = category
        }
        query.code = try uri.codeValue()
        query.limit = try uri.limitValue(max: Projection.newsCapacity, what: " (the items kept)") ?? query.limit
        return query
    }

    /// The entries of `ring` (oldest first) that match `query` and `access` lets through, the
    /// newest first, at most `query.limit` of them; and how many matched.
    static func news(_ ring: [NewsEntry], matching query: NewsQuery, access: MarketReadAccess) -> (entries: [NewsEntry], matched: Int) {
        let matching = ring.reversed().filter { entry in
            (query.category.map { entry.item.category == $0 } ?? true)
                && (query.code.map { entry.item.codes.contains($0) } ?? true)
                && access.permitsNews(entry.item)
        }
        return (Array(matching.prefix(query.limit)), matching.count)
    }

    /// `value` for an error message: quoted, cut short.
    static func quoted(_ value: String) -> String {
        value.unicodeScalars.count <= 40 ? "'\(value)'" : "'\(String(value.unicodeScalars.prefix(40)))…'"
    }

    /// The refusal of a read the reader's token does not allow.
    static func notAllowed(_ what: String) -> APIError {
        APIError(
            status: .forbidden, error: "not_allowed",
            details: "your token does not allow \(what); ask for a token whose allow claim grants it")
    }
}

/// `GET /api/prices`: the latest price of each code asked for, as `price_update` entries.
struct PricesBody: Encodable {
    let strategy: String?
    let market: String?
    /// Entries in `prices`.
    let count: Int
    /// The journal position the prices are at: a `price_update` with a higher seq is newer.
    let seq: UInt64
    let prices: [ServerMessage.PriceEntry]
    /// Codes asked for (or listed by the strategy) without a price yet.
    let unknown: [String]?

    /// The body, what `JSONResponse` would make of it byte for byte, written straight as price
    /// updates are (`ServerMessage.encode(_: PriceUpdate)`): `JSONEncoder` took ~9 ms for the
    /// 1,250 prices of a board.
    var json: ByteBuffer {
        guard ServerMessage.PriceEntry.allFinite(prices) else { return ByteBuffer(bytes: JSONResponse.encode(self)) }
        var json = JSONBytes(capacity: 128 + prices.count * 170 + (unknown?.count ?? 0) * 12)
        json.raw(#"{"count":"#)
        json.integer(count)
        if let market {
            json.raw(#","market":"#)
            json.string(market)
        }
        json.raw(#","prices":"#)
        ServerMessage.PriceEntry.write(prices, into: &json)
        json.raw(#","seq":"#)
        json.integer(seq)
        if let strategy {
            json.raw(#","strategy":"#)
            json.string(strategy)
        }
        if let unknown {
            json.raw(#","unknown":["#)
            for (index, code) in unknown.enumerated() {
                if index > 0 { json.raw(",") }
                json.string(code)
            }
            json.raw("]")
        }
        json.raw("}")
        return json.buffer
    }
}

/// `GET /api/klines`: the latest bar of each period of a code.
struct BarsBody: Encodable {
    let code: String
    let count: Int
    let seq: UInt64
    let bars: [KlineBar]
}

/// `GET /api/news`: recent news, the newest first.
struct NewsListBody: Encodable {
    /// A news item and the seq that published it.
    struct Row: Encodable {
        let entry: NewsEntry

        private enum CodingKeys: String, CodingKey { case seq }

        func encode(to encoder: any Encoder) throws {
            try entry.item.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(entry.seq, forKey: .seq)
        }
    }
    /// Items that matched (more than `news` holds when the limit cut them).
    let count: Int
    let seq: UInt64
    let news: [Row]

    /// The body, what `JSONResponse` would make of it byte for byte, written straight as the prices
    /// are (`PricesBody.json`): through `JSONEncoder` 50 items took ~0.7 ms.
    var json: ByteBuffer {
        var json = JSONBytes(capacity: 64 + news.reduce(0) { bytes, row in
            let item = row.entry.item
            return bytes + 128 + item.id.utf8.count + item.title.utf8.count + item.summary.utf8.count + item.url.utf8.count
                + item.category.utf8.count + item.codes.count * 10
        })
        json.raw(#"{"count":"#)
        json.integer(count)
        json.raw(#","news":["#)
        for (index, row) in news.enumerated() {
            if index > 0 { json.raw(",") }
            let item = row.entry.item
            json.raw(#"{"category":"#)
            json.string(item.category)
            json.raw(#","codes":["#)
            for (index, code) in item.codes.enumerated() {
                if index > 0 { json.raw(",") }
                json.string(code)
            }
            json.raw(#"],"id":"#)
            json.string(item.id)
            json.raw(#","published_at":"#)
            json.integer(item.publishedAt)
            json.raw(#","seq":"#)
            json.integer(row.entry.seq)
            json.raw(#","summary":"#)
            json.string(item.summary)
            json.raw(#","title":"#)
            json.string(item.title)
            json.raw(#","url":"#)
            json.string(item.url)
            json.raw("}")
        }
        json.raw(#"],"seq":"#)
        json.integer(seq)
        json.raw("}")
        return json.buffer
    }
}

extension APIRoutes {
    /// What the request may read: everything with client authentication off; else it presents
    /// (`Authorization: Bearer`) the admin token, which reads everything, or a valid client
    /// token, which reads what its allow-list lets a subscription show.
    func marketReadAccess(_ request: Request) async throws -> MarketReadAccess {
        guard let verifier = runtime.tokenVerifier else { return .everything }
        guard let presented = request.bearerCredentials, !presented.isEmpty else {
            throw APIError(
                status: .unauthorized, error: "unauthorized",
                details: "client authentication is on: send Authorization: Bearer <client token> (or the admin token)")
        }
        if let admin = runtime.adminToken, constantTimeEqual(presented, admin) { return .everything }
        do {
            return MarketReadAccess(try await verifier.verify(presented))
        } catch {
            throw APIError(status: .unauthorized, error: "invalid_token", details: error.details)
        }
    }

    /// `GET /api/prices?codes=|strategy=|market=`.
    func prices(_ request: Request) async throws -> Response {
        let access = try await marketReadAccess(request)
        let query = try MarketDataReads.priceQuery(request.uri)
        let store = try readyStore()
        switch query {
        case .codes(let codes):
            let (seq, found) = await store.read { projection in
                (projection.lastSeq, codes.map { (tick: projection.knownPrice(of: $0), strategies: projection.strategies.strategies(containing: $0)) })
            }
            let refused = zip(codes, found).filter { !access.permitsPrice(of: $0, strategies: $1.strategies) }.map(\.0)
            guard refused.isEmpty else {
                let more = refused.count > 10 ? ", …" : ""
                throw MarketDataReads.notAllowed(
                    "the prices of \(refused.prefix(10).joined(separator: ", "))\(more) (as a stock, its market or a strategy listing it)")
            }
            let prices = found.compactMap(\.tick).map(ServerMessage.PriceEntry.init)
            let unknown = zip(codes, found).filter { $1.tick == nil }.map(\.0)
            return JSONResponse.make(json: PricesBody(strategy: nil, market: nil, count: prices.count, seq: seq, prices: prices, unknown: unknown).json)
        case .strategy(let name):
            let subscription = Subscription(type: .strategy, target: name)
            guard access.permits(subscription) else { throw MarketDataReads.notAllowed("strategy '\(name)'") }
            let (seq, codes, ticks) = await store.read { projection in
                (projection.lastSeq, projection.codes(for: subscription), projection.knownPrices(for: subscription))
            }
            guard !codes.isEmpty else {
                throw APIError(
                    status: .notFound, error: "unknown_strategy",
                    details: "no strategy '\(name)' with signals (GET /api/strategies lists them)")
            }
            let priced = Set(ticks.map(\.code))
            return JSONResponse.make(json: PricesBody(
                strategy: name, market: nil, count: ticks.count, seq: seq, prices: ticks.map(ServerMessage.PriceEntry.init),
                unknown: codes.filter { !priced.contains($0) }).json)
        case .market(let board):
            let subscription = Subscription(type: .market, target: board.rawValue)
            guard access.permits(subscription) else { throw MarketDataReads.notAllowed("market '\(board.rawValue)'") }
            // Only the maps are taken on the store; the scan of every known price runs here.
            let (seq, lastPrices, strategies) = await store.read { projection in
                (projection.lastSeq, projection.lastPrices, projection.strategies)
            }
            let ticks = Projection.knownPrices(on: board, lastPrices: lastPrices, strategies: strategies)
            return JSONResponse.make(json: PricesBody(
                strategy: nil, market: board.rawValue, count: ticks.count, seq: seq, prices: ticks.map(ServerMessage.PriceEntry.init),
                unknown: nil).json)
        }
    }

    /// `GET /api/klines?code=[&period=]`: for each period, the later of the journal's latest bar and
    /// the one being built from ticks (as a new stock subscriber gets them).
    func klines(_ request: Request) async throws -> Response {
        let access = try await marketReadAccess(request)
        let query = try MarketDataReads.barQuery(request.uri)
        let store = try readyStore()
        let klines = runtime.klines
        let periods = query.period.map { [$0] } ?? MarketDataReads.barPeriods
        let (seq, strategies, bars) = await store.read { projection in
            (
                projection.lastSeq, projection.strategies.strategies(containing: query.code),
                periods.compactMap { period in
                    let key = BarKey(code: query.code, period: period)
                    return ClientSession.latestBar(projection.lastBars[key], klines.openBar(key))
                }
            )
        }
        guard access.permitsPrice(of: query.code, strategies: strategies) else {
            throw MarketDataReads.notAllowed("the prices of \(query.code) (as a stock, its market or a strategy listing it)")
        }
        return JSONResponse.make(BarsBody(code: query.code, count: bars.count, seq: seq, bars: bars))
    }

    /// `GET /api/news[?category=&code=&limit=]`: what the news ring holds, the newest first.
    func news(_ request: Request) async throws -> Response {
        let access = try await marketReadAccess(request)
        let query = try MarketDataReads.newsQuery(request.uri)
        let store = try readyStore()
        let (seq, ring) = await store.read { projection in (projection.lastSeq, projection.news(after: 0)) }
        let (entries, matched) = MarketDataReads.news(ring, matching: query, access: access)
        return JSONResponse.make(json: NewsListBody(count: matched, seq: seq, news: entries.map(NewsListBody.Row.init)).json)
    }
}
