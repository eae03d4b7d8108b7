import Broker
import HummingbirdCore
import Testing

@testable import brokerd

/// The queries of the market-data reads and the alert-rule listing, and what a token lets through.
struct MarketDataReadsTests {
    private func refusal(_ parse: () throws -> some Any) -> String? {
        do {
            let accepted = try parse()
            Issue.record("taken as \(accepted)")
            return nil
        } catch let refusal as APIError {
            return refusal.error
        } catch {
            Issue.record("\(error)")
            return nil
        }
    }

    @Test func aPriceQueryNamesCodesAStrategyOrAMarket() throws {
        #expect(try MarketDataReads.priceQuery(URI("/api/prices?codes=600519,%20000001,600519")) == .codes(["600519", "000001"]))
        #expect(try MarketDataReads.priceQuery(URI("/api/prices?strategy=%E9%87%8F%E8%83%BD")) == .strategy("量能"))
        #expect(try MarketDataReads.priceQuery(URI("/api/prices?market=bj")) == .market(.bj))
        let tooMany = (0...MarketDataReads.maxCodes).map { "c\($0)" }.joined(separator: ",")
        for (query, error) in [
            ("", "missing_query"), ("codes=1&strategy=s", "missing_query"), ("codes=", "invalid_code"), ("codes=600519,", "invalid_code"),
            ("codes=\(tooMany)", "too_many_codes"), ("strategy=", "invalid_strategy"), ("market=SH", "invalid_market"),
        ] {
            #expect(refusal { try MarketDataReads.priceQuery(URI("/api/prices?\(query)")) } == error, "\(query.prefix(40))")
        }
    }

    @Test func aBarQueryNeedsACodeAndTakesOnePeriod() throws {
        #expect(try MarketDataReads.barQuery(URI("/api/klines?code=600519")) == .init(code: "600519"))
        #expect(try MarketDataReads.barQuery(URI("/api/klines?code=600519&period=60m")) == .init(code: "600519", period: "60m"))
        #expect(Set(MarketDataReads.barPeriods) == FieldRules.barPeriods, "every period the broker takes, listed once")
        for (query, error) in [("", "missing_code"), ("code=", "invalid_code"), ("code=600519&period=1h", "invalid_period")] {
            #expect(refusal { try MarketDataReads.barQuery(URI("/api/klines?\(query)")) } == error, "\(query)")
        }
    }

    private let ring = [
        NewsEntry(seq: 3, item: NewsItem(id: "n1", title: "", summary: "", url: "", codes: [], category: "macro", publishedAt: 1)),
        NewsEntry(seq: 5, item: NewsItem(id: "n2", title: "", summary: "", url: "", codes: ["600519"], category: "company", publishedAt: 2)),
        NewsEntry(seq: 9, item: NewsItem(id: "n3", title: "", summary: "", url: "", codes: ["000001"], category: "company", publishedAt: 3)),
    ]

    private func ids(_ query: MarketDataReads.NewsQuery, _ access: MarketReadAccess = .everything) -> [String] {
        MarketDataReads.news(ring, matching: query, access: access).entries.map(\.item.id)
    }

    @Test func newsIsTheNewestFirstFilteredByCategoryCodeAndTheToken() throws {
        #expect(ids(.init()) == ["n3", "n2", "n1"])
        #expect(ids(.init(category: "company")) == ["n3", "n2"])
        #expect(ids(.init(code: "000001")) == ["n3"])
        let cut = MarketDataReads.news(ring, matching: .init(limit: 2), access: .everything)
        #expect(cut.entries.map(\.item.id) == ["n3", "n2"] && cut.matched == 3)

        let macroAndMoutai = try SubscriptionAllowList(claim: ["news": ["macro"], "stock": ["600519"]])
        #expect(ids(.init(), .allowed(macroAndMoutai)) == ["n2", "n1"], "a category, or a stock the item is tagged with")
        #expect(ids(.init(), .allowed(try SubscriptionAllowList(claim: ["news": ["all"]]))) == ["n3", "n2", "n1"])
        #expect(ids(.init(), .allowed(try SubscriptionAllowList(claim: ["market": ["sh"]]))).isEmpty)

        #expect(try MarketDataReads.newsQuery(URI("/api/news?category=all&code=600519&limit=7")) == .init(code: "600519", limit: 7))
        for query in ["limit=0", "limit=501", "code=a%20b", "category="] {
            #expect(refusal { try MarketDataReads.newsQuery(URI("/api/news?\(query)")) } != nil, "\(query)")
        }
    }

    @Test func aTokensGrantsShowPricesWhereASubscriptionWould() throws {
        let access = MarketReadAccess.allowed(try SubscriptionAllowList(claim: ["strategy": ["volume_wave"], "market": ["sz"]]))
        #expect(access.permitsPrice(of: "600519", strategies: ["volume_wave"]))
        #expect(!access.permitsPrice(of: "600519", strategies: ["other"]))
        #expect(access.permitsPrice(of: "000001", strategies: []), "its board")
        #expect(!access.permits(Subscription(type: .market, target: "sh")))
        #expect(MarketReadAccess(nil) == .everything)
        #expect(MarketReadAccess(ClientIdentity(user: "u", allowList: nil)) == .everything, "a token without an allow claim")
    }

    @Test func alertRulesAreListedByUserThenIdNarrowedByUserAndCode() throws {
        var book = AlertBook()
        for (id, user, code) in [("r1", "bob", "600519"), ("r2", "alice", "600519"), ("r3", "alice", "000001")] {
            book.set(AlertRule(id: id, user: user, code: code, condition: .above, threshold: 1))
        }
        book.markTriggered("r3")
        func listed(_ query: AlertRules.Query) -> [String] { AlertRules.listing(book, matching: query).rules.map(\.ruleID) }
        #expect(listed(.init()) == ["r2", "r3", "r1"])
        #expect(AlertRules.listing(book, matching: .init()).rules.map(\.triggered) == [false, true, false])
        #expect(AlertRules.listing(book, matching: .init()).rules.map(\.user) == ["alice", "alice", "bob"])
        #expect(listed(.init(user: "alice")) == ["r2", "r3"] && listed(.init(code: "600519")) == ["r2", "r1"])
        #expect(listed(.init(user: "bob", code: "000001")).isEmpty)
        let cut = AlertRules.listing(book, matching: .init(limit: 1))
        #expect(cut.rules.count == 1 && cut.matched == 3)

        #expect(try AlertRules.query(URI("/api/alerts/rules?user=alice&code=600519&limit=5")) == .init(user: "alice", code: "600519", limit: 5))
        for query in ["user=", "code=", "limit=100001", "limit=x"] {
            #expect(refusal { try AlertRules.query(URI("/api/alerts/rules?\(query)")) } != nil, "\(query)")
        }
    }
}
