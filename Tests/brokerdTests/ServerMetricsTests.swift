import Foundation
import Testing
import TestSupport


/// One sample of a Prometheus text exposition: `name{label="value",…} number`.
struct PrometheusSample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double

    /// Parses the text exposition format (version 0.0.4); comment lines are skipped, and a line
    /// that is not a sample fails the parse.
    static func parse(_ text: String) throws -> [PrometheusSample] {
        try text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.map { line in
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw ParseError(line: String(line))
            }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else { return PrometheusSample(name: String(series), labels: [:], value: value) }
            guard series.hasSuffix("}") else { throw ParseError(line: String(line)) }
            var labels: [String: String] = [:]
            for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)].split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[1].hasPrefix("\""), parts[1].hasSuffix("\"") else { throw ParseError(line: String(line)) }
                labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
            }
            return PrometheusSample(name: String(series[..<brace]), labels: labels, value: value)
        }
    }

    struct ParseError: Error {
        let line: String
    }
}

extension [PrometheusSample] {
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        first { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }?.value
    }
}

/// The samples of `broker`'s `/metrics`.
func metricSamples(of broker: BrokerProcess) async throws -> [PrometheusSample] {
    try PrometheusSample.parse(try await HTTP.text(broker.baseURL + "/metrics"))
}

@Suite(.serialized) struct ServerMetricsTests {
    private func scrape(_ broker: BrokerProcess) async throws -> (String, [PrometheusSample]) {
        let answer = try await HTTP.send("GET", broker.baseURL + "/metrics")
        #expect(answer.status == 200)
        #expect(answer.headers.first(name: "Content-Type")?.hasPrefix("text/plain") == true)
        return (answer.text, try PrometheusSample.parse(answer.text))
    }

    @Test func metricsShowConnectionsSubscriptionsTrafficJournalAndFanOut() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        let socket = TestWebSocket(url: broker.webSocketURL)
        _ = try await socket.receive()
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        _ = try await socket.receive(type: "price_update")
        socket.sendRaw("not json")
        _ = try await socket.receive(type: "error")
        let ticks = #"{"ticks":[{"code":"600519","price":1800},{"code":"000001","price":12}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: ticks).0 == 200)
        _ = try await socket.receive(type: "price_update")

        // The files only grow here (the log starts over at 16 MB): the size scraped after is at least this.
        let onDisk = [dir.path("j.sqlite"), dir.path("j.sqlite-wal")].map {
            ((try? FileManager.default.attributesOfItem(atPath: $0))?[.size] as? Int) ?? 0
        }
        let (text, samples) = try await scrape(broker)
        #expect(onDisk[1] > 0)
        #expect((samples.value("brokerd_journal_size_bytes") ?? 0) >= Double(onDisk.reduce(0, +)), "main + WAL: \(onDisk)")
        let (_, stats) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
        #expect((stats["journal"] as? [String: Any])?["size_bytes"] as? Int ?? 0 >= onDisk.reduce(0, +), "main + WAL: \(onDisk)")
        // SQLite's memory: its connections' caches hold some of the journal's pages, never more than 64 MiB each.
        let sqliteMemory = (stats["journal"] as? [String: Any])?["sqlite_memory_bytes"] as? Int ?? 0
        #expect(sqliteMemory > 0 && sqliteMemory < 4 * 64 << 20, "\(sqliteMemory)")
        #expect((samples.value("brokerd_journal_sqlite_memory_bytes") ?? 0) > 0)
        // The file's name, not where it lies: the stats are anyone's to read.
        #expect((stats["journal"] as? [String: Any])?["file"] as? String == "j.sqlite")
        let statsText = try await HTTP.text(broker.baseURL + "/api/websocket/stats").replacingOccurrences(of: "\\/", with: "/")
        #expect(statsText.contains("j.sqlite") && !statsText.contains(dir.url.path), "\(statsText)")
        #expect(samples.value("brokerd_connections") == 1)
        #expect(samples.value("brokerd_ready") == 1)
        #expect(samples.value("brokerd_subscriptions", ["type": "stock"]) == 1)
        #expect(samples.value("brokerd_subscriptions", ["type": "strategy"]) == 0)
        #expect(samples.value("brokerd_ticks_ingested_total") == 2)
        #expect(samples.value("brokerd_messages_in_total", ["type": "subscribe"]) == 1)
        #expect(samples.value("brokerd_messages_in_total", ["type": "invalid"]) == 1)
        #expect(samples.value("brokerd_messages_out_total", ["type": "price_update"]) == 1)
        #expect((samples.value("brokerd_journal_last_seq") ?? 0) >= 3, "connect, subscribe, two ticks")
        #expect((samples.value("brokerd_journal_commit_seconds_count") ?? 0) >= 3)
        #expect((samples.value("brokerd_journal_batch_events_sum") ?? 0) >= 4)
        #expect((samples.value("brokerd_fanout_dispatch_seconds_count") ?? 0) >= 2, "the price update and the tick-built bar")
        #expect(samples.value("brokerd_tick_age_at_fanout_seconds_count") == 1, "one price push: the tick of 600519")
        #expect((samples.value("brokerd_tick_age_at_fanout_seconds_sum") ?? 0) > 0)
        // The 1m and 5m bars; more if the run crosses a minute boundary and the bars close.
        #expect((samples.value("brokerd_messages_out_total", ["type": "kline_update"]) ?? 0) >= 2)
        #expect(samples.value("brokerd_connections_opened_total") == 1)
        #expect(text.contains("# TYPE brokerd_fanout_dispatch_seconds histogram"))

        // Stats count the messages sent as the metric does: replies (connected, subscribed, error)
        // and the subscribe snapshot included.
        var outByType: [String: Int] = [:]
        var metricOut: [String: Int] = [:]
        for _ in 0..<50 {
            let before = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats").1
            let scraped = try await scrape(broker).1.filter { $0.name == "brokerd_messages_out_total" }
            let after = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats").1
            outByType = (after["messages"] as? [String: Any])?["out_by_type"] as? [String: Int] ?? [:]
            metricOut = Dictionary(uniqueKeysWithValues: scraped.map { ($0.labels["type"] ?? "", Int($0.value)) })
            // Nothing in flight between the reads (a bar update may still be on its way).
            if (before["messages"] as? [String: Any])?["out_by_type"] as? [String: Int] == outByType { break }
        }
        #expect(outByType == metricOut)
        #expect(outByType["reply"] ?? 0 >= 4, "connected, subscribed, its snapshot, the error: \(outByType)")
        #expect(outByType["price_update"] == 1, "the tick's push: \(outByType)")

        await socket.close()
        for _ in 0..<100 {
            if try await scrape(broker).1.value("brokerd_disconnects_total", ["reason": "closed"]) == 1 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let after = try await scrape(broker).1
        #expect(after.value("brokerd_disconnects_total", ["reason": "closed"]) == 1)
        #expect(after.value("brokerd_connections") == 0)
        await broker.terminate()
    }

    @Test func httpRequestsAreCountedAndTimedByRouteMethodAndStatus() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        for path in ["/api/prices?codes=600519", "/api/prices?codes=600000", "/api/prices", "/api/nothing", "/api/websocket/clients/client_00000000"] {
            _ = try await HTTP.request("GET", broker.baseURL + path)
        }
        _ = try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: "{")
        // The console's index.html, answered by a file: counted under `FileMiddleware`.
        #expect(try await HTTP.text(broker.baseURL + "/").contains("<html"))
        let samples = try await scrape(broker).1
        // Each answer is counted with the route that matched (its pattern, so ids do not make series).
        #expect(samples.value("brokerd_http_requests_total", ["route": "/api/prices", "method": "GET", "status": "200"]) == 2)
        #expect(samples.value("brokerd_http_requests_total", ["route": "/api/prices", "method": "GET", "status": "400"]) == 1)
        #expect(samples.value("brokerd_http_requests_total", ["route": "/api/websocket/clients/{client_id}", "method": "GET", "status": "404"]) == 1)
        #expect(samples.value("brokerd_http_requests_total", ["route": "/api/ticks", "method": "POST", "status": "400"]) == 1)
        #expect(samples.value("brokerd_http_requests_total", ["route": "NotFound", "method": "GET", "status": "404"]) == 1)
        #expect(samples.value("brokerd_http_requests_total", ["route": "FileMiddleware", "method": "GET", "status": "200"]) == 1)
        #expect(samples.value("brokerd_http_request_duration_seconds_count", ["route": "/api/prices", "method": "GET", "status": "200"]) == 2)
        #expect(samples.value("brokerd_http_active_requests", ["method": "GET"]) != nil)
        await broker.terminate()
    }

    @Test func theParserReadsLabelsAndRejectsGarbage() throws {
        let samples = try PrometheusSample.parse("# HELP x y\nup 1\nreq_total{type=\"a\",code=\"2\"} 3.5\n")
        #expect(samples == [
            PrometheusSample(name: "up", labels: [:], value: 1),
            PrometheusSample(name: "req_total", labels: ["type": "a", "code": "2"], value: 3.5),
        ])
        #expect(throws: PrometheusSample.ParseError.self) { try PrometheusSample.parse("up one") }
    }
}
