import Broker
import Foundation

/// The replay report for people: one block per part of the state, one line per item.
extension StateReport {
    /// The report as text; `source` says how the state was rebuilt.
    func text(source: String) -> String {
        var out = "State at seq \(lastSeq)" + (lastTime.map { " (\($0))" } ?? " (before the first event)") + "\n"
        out += "  rebuilt from \(source)\n"

        let connected = clients.filter { $0.state == "connected" }.count
        out += "\nClients: \(connected) connected, \(clients.count - connected) gone\n"
        for client in clients {
            var line = "  \(client.clientID)  \(client.state)"
            if let user = client.user { line += "  user \(user)" }
            if let remote = client.remote { line += "  remote \(remote)" }
            line += "  node \(client.node)  connected \(client.connectedAt)"
            if let since = client.goneSince {
                line += "\n      gone since \(since) (\(client.reason ?? "?")), resumable until \(client.resumeDeadline ?? "?")"
            }
            out += line + "\n"
            let subscriptions = client.subscriptions.map { "\($0.type):\($0.target)" }
            out += "      subscriptions: " + (subscriptions.isEmpty ? "none" : subscriptions.joined(separator: ", ")) + "\n"
        }

        out += "\nPrices: \(prices.count)\n"
        for price in prices {
            out += "  \(price.code)  \(price.name)  \(Self.number(price.price))  "
                + "\(Self.signed(price.change)) (\(Self.signed(price.changePercent))%)  volume \(price.volume)  at \(price.timestamp)\n"
        }

        out += "\nBars: \(bars.count)\n"
        for bar in bars {
            out += "  \(bar.code) \(bar.period)  start \(bar.start)  O \(Self.number(bar.open)) H \(Self.number(bar.high)) "
                + "L \(Self.number(bar.low)) C \(Self.number(bar.close))  volume \(bar.volume)\(bar.closed ? "  closed" : "")\n"
        }

        out += "\nAlert rules: \(alertRules.count) (\(alertRules.filter(\.triggered).count) triggered)\n"
        for rule in alertRules {
            out += "  \(rule.id)  user \(rule.user)  \(rule.code) \(rule.condition) \(Self.number(rule.threshold))  "
                + (rule.triggered ? "triggered" : "armed") + "\n"
        }

        out += "\nSignals: \(signals.count) " + (signals.count == 1 ? "strategy" : "strategies") + "\n"
        for strategy in signals {
            let codes = strategy.signals.map { "\($0.code) \($0.name)" }.joined(separator: ", ")
            out += "  \(strategy.strategy) (\(strategy.signals.count)): \(codes)\n"
        }

        out += "\nNews: \(news.count) in the ring buffer\n"
        for item in news {
            let codes = item.codes.isEmpty ? "" : "  codes \(item.codes.joined(separator: ","))"
            out += "  seq \(item.seq)  \(item.id)  [\(item.category)] \(item.title)\(codes)\n"
        }

        if !sources.isEmpty {
            out += "\nSources:\n"
            for (source, position) in sources.sorted(by: { $0.key < $1.key }) {
                out += "  \(source) at \(position)\n"
            }
        }
        return out
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    private static func signed(_ value: Double) -> String {
        (value >= 0 ? "+" : "") + String(format: "%.2f", value)
    }
}
