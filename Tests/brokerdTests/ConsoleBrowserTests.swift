import Foundation
import Testing
import TestSupport

/// The live console in a real headless Chromium, against a real broker whose simulator makes prices.
///
/// Everything is polled with generous deadlines: the test asserts what the page shows, never how fast.
@Suite(.serialized) struct ConsoleBrowserTests {
    /// What the test reads off the page: the state badge, the strategy picker, the price table, the
    /// panels and the connection log (oldest entry first).
    static let pageState = """
        (() => {
          const table = document.getElementById("prices");
          return {
            state: document.getElementById("connection").dataset.state,
            strategy: document.getElementById("strategy").value,
            priced: table.querySelectorAll("tbody tr[data-price]").length,
            codes: Array.from(table.querySelectorAll("tbody tr")).map((row) => row.dataset.code),
            updates: Number(table.dataset.updates),
            seq: Number(table.dataset.seq || 0),
            log: Array.from(document.querySelectorAll("#log li"))
              .map((li) => ({ index: Number(li.dataset.index), state: li.dataset.state, text: li.textContent })).reverse(),
            statSeq: document.getElementById("stat-seq").textContent,
            statClients: document.getElementById("stat-clients").textContent,
            news: document.querySelectorAll("#news li").length,
            alerts: document.querySelectorAll("#alerts li").length,
          };
        })()
        """

    /// A snapshot of `pageState`.
    struct PageState {
        let raw: [String: Any]
        init(_ raw: [String: Any]) { self.raw = raw }

        var state: String? { raw["state"] as? String }
        var strategy: String? { raw["strategy"] as? String }
        var priced: Int { raw["priced"] as? Int ?? 0 }
        /// The codes of the price table's rows, top to bottom.
        var codes: [String] { raw["codes"] as? [String] ?? [] }
        var updates: Int { raw["updates"] as? Int ?? 0 }
        var seq: Int { raw["seq"] as? Int ?? 0 }
        var statSeq: String { raw["statSeq"] as? String ?? "" }
        /// Connected clients as the stats panel shows them ("1 connected · 1 sessions").
        var statConnected: Int { Int((raw["statClients"] as? String ?? "").prefix { $0.isNumber }) ?? 0 }
        var news: Int { raw["news"] as? Int ?? 0 }
        var alerts: Int { raw["alerts"] as? Int ?? 0 }
        /// Connection log entries after entry `index`, oldest first.
        func logStates(after index: Int) -> [String] {
            ((raw["log"] as? [[String: Any]]) ?? []).filter { ($0["index"] as? Int ?? 0) > index }.compactMap { $0["state"] as? String }
        }
        var lastLogIndex: Int { ((raw["log"] as? [[String: Any]]) ?? []).compactMap { $0["index"] as? Int }.max() ?? 0 }
    }

    /// How the broker goes away and comes back on the same port and journal, and how the page must
    /// end up: resumed (the broker restored the subscriptions, so the page sends none), or, when
    /// the resume is refused, connected afresh and subscribed again.
    struct Restart: CustomStringConvertible {
        let description: String
        let kill9: Bool
        let arguments: [String]
        let resumes: Bool
    }

    static let restarts = [
        Restart(description: "SIGTERM", kill9: false, arguments: [], resumes: true),
        Restart(description: "kill -9", kill9: true, arguments: [], resumes: true),
        Restart(description: "kill -9 and a restart with resume_window 0", kill9: true, arguments: ["--resume-window", "0"], resumes: false),
    ]

    @Test func theConsoleShowsLivePricesAndRecoversFromBrokerRestarts() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("journal.sqlite")
        let arguments = ["--simulator", "on", "--public-dir", ConsoleRoutesTests.publicDirectory]
        var broker = try await BrokerProcess(journal: journal, arguments: arguments)
        let port = broker.port
        let chromium = try await HeadlessChromium()
        defer { chromium.terminate() }
        let page = try await chromium.newPage()

        // The simulator seeds the strategies of Config/signals.json; pick the second one, so the
        // page must honour ?strategy= rather than show its default.
        let strategy = "breakout"
        let (_, listing) = try await HTTP.request("GET", broker.baseURL + "/api/strategies")
        let rows = try #require(listing["strategies"] as? [[String: Any]], "\(listing)")
        let signalCount = try #require(rows.first { $0["name"] as? String == strategy }?["signal_count"] as? Int, "\(rows)")

        try await page.navigate(broker.baseURL + "/?strategy=\(strategy)")
        try await poll(page, "the price table to fill with every code of \(strategy)") {
            $0.state == "connected" && $0.strategy == strategy && $0.priced == signalCount
        }

        // News over HTTP and an alert set from the page's own form reach their panels too.
        let (newsStatus, newsBody) = try await HTTP.request(
            "POST", broker.baseURL + "/api/news",
            body: #"{"title":"贵州茅台 raises its dividend","category":"company","codes":["600519"]}"#)
        #expect(newsStatus == 200, "POST news: \(newsBody)")
        _ = try await page.evaluate("""
            document.getElementById("alert-code").value = "600519";
            document.getElementById("alert-condition").value = "above";
            document.getElementById("alert-threshold").value = "1";
            document.getElementById("alert-form").requestSubmit();
            true
            """)
        // The stats panel refreshes live: it comes to count the page's own connection.
        try await poll(page, "broker stats counting this page, the news item, the alert set and fired") {
            $0.statConnected >= 1 && $0.statSeq != "–" && $0.news >= 1 && $0.alerts >= 2
        }
        try await saveScreenshot(page)

        for restart in Self.restarts {
            let before = PageState(try await page.evaluate(Self.pageState) as? [String: Any] ?? [:])
            if restart.kill9 { await broker.kill9() } else { await broker.terminate() }
            try await poll(page, "the page to show it is reconnecting after \(restart)") {
                $0.logStates(after: before.lastLogIndex).contains("backing_off") && $0.state != "connected" && $0.state != "resumed"
            }
            broker = try await BrokerProcess(journal: journal, arguments: arguments + restart.arguments + ["--port", "\(port)"])
            #expect(broker.port == port)
            let expected = restart.resumes ? "resumed" : "connected"
            // A refused resume is followed by the page's own subscribes: wait for their replies too.
            let after = try await poll(page, "the page to be \(expected) after \(restart) and show new prices") {
                $0.state == expected && $0.logStates(after: before.lastLogIndex).contains(expected)
                    && $0.updates > before.updates && $0.seq > before.seq && $0.priced == signalCount
                    && (restart.resumes || $0.logStates(after: before.lastLogIndex).contains("subscribed"))
            }
            // Re-subscribing is the page's job only when the resume was refused.
            let subscribed = after.logStates(after: before.lastLogIndex).contains("subscribed")
            #expect(subscribed == !restart.resumes, "\(restart): \(after.raw["log"] ?? "")")
        }
        await page.close()
        _ = dir
    }

    /// A daily refresh replaces the signal list of the strategy on screen: the pushes then carry the
    /// new list's codes only, and the rows of the codes dropped stayed on the page, frozen. Also
    /// when the page's first looks at the list failed (the broker away a moment), so it has no
    /// earlier list to compare with: the rows of codes the list no longer has give it away.
    @Test(arguments: [false, true])
    func aStrategyWhoseSignalListIsReplacedShowsOnlyTheNewListsCodes(firstLooksFail: Bool) async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(
            journal: dir.path("journal.sqlite"), arguments: ["--simulator", "on", "--public-dir", ConsoleRoutesTests.publicDirectory])
        let chromium = try await HeadlessChromium()
        defer { chromium.terminate() }
        let page = try await chromium.newPage()
        if firstLooksFail {
            // Every look at the list fails until the test lets them through.
            _ = try await page.connection.call("Page.enable")
            _ = try await page.connection.call("Page.addScriptToEvaluateOnNewDocument", ["source": """
                window.failSignalLookups = true;
                const realFetch = window.fetch.bind(window);
                window.fetch = (url, options) => window.failSignalLookups && String(url).startsWith("/api/signals/buy")
                  ? Promise.reject(new TypeError("Failed to fetch")) : realFetch(url, options);
                """])
        }
        let strategy = "breakout"
        try await page.navigate(broker.baseURL + "/?strategy=\(strategy)")
        let before = try await poll(page, "the price table to fill with \(strategy)'s codes") {
            $0.state == "connected" && $0.strategy == strategy && $0.priced > 2
        }

        if firstLooksFail {
            #expect(try await page.evaluate("window.failSignalLookups") as? Bool == true, "the lookups were made to fail")
        }
        // Two codes the simulator trades, so both have prices at once.
        let (status, reply) = try await HTTP.request(
            "PUT", broker.baseURL + "/api/signals/\(strategy)",
            body: #"{"signals":[{"code":"600519","name":"贵州茅台"},{"code":"688981","name":"中芯国际"}]}"#)
        #expect(status == 200, "\(reply)")
        if firstLooksFail { _ = try await page.evaluate("window.failSignalLookups = false") }
        let after = try await poll(page, "the table to show the new list's two codes only (it had \(before.priced))") {
            $0.priced == 2 && $0.codes == ["600519", "688981"]
        }
        #expect(after.strategy == strategy)
        await page.close()
        await broker.terminate()
    }

    @discardableResult
    private func poll(_ page: DevToolsPage, _ what: String, until condition: (PageState) -> Bool) async throws -> PageState {
        PageState(try await page.poll(what, Self.pageState) { condition(PageState($0)) })
    }

    /// Writes the page as a PNG to `$BROKERD_SCREENSHOT` (how docs/console.png is made), else to a temp file.
    private func saveScreenshot(_ page: DevToolsPage) async throws {
        let png = try await page.screenshot()
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "not a PNG")
        let path = ProcessInfo.processInfo.environment["BROKERD_SCREENSHOT"]
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("brokerd-console.png").path
        try png.write(to: URL(fileURLWithPath: path))
        print("console screenshot: \(path)")
    }
}
