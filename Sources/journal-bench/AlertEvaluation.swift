import ArgumentParser
import Broker
import Foundation
import Publishers

/// Cost per tick of finding the alert rules a tick triggers, with many rules loaded.
struct AlertEvaluation: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts", abstract: "Alert evaluation cost per tick with N rules (decide with firings + apply).")

    @Option(help: "Alert rules loaded.")
    var rules: Int = 100_000
    @Option(help: "Distinct codes the rules and ticks spread over.")
    var codes: Int = 5_000
    @Option(help: "Ticks evaluated per run.")
    var ticks: Int = 1_000_000
    @Option(help: "Runs; the median is reported.")
    var runs: Int = 5
    @Flag(help: "Time only finding the due rules (rulesToTrigger) and applying the tick, never firing: the measure before stop 15.")
    var matchOnly = false

    func run() async throws {
        let codeNames = (0..<codes).map { "6" + String(format: "%05d", $0) }
        var projection = Projection()
        var seq: UInt64 = 0
        for n in 0..<rules {
            seq += 1
            let rule = AlertRule(
                id: "rule_\(n)", user: "user\(n % 1_000)", code: codeNames[n % codes],
                condition: [.above, .below, .changePercent][n % 3], threshold: Double(5 + n % 20))
            projection.apply(RecordedEvent(seq: seq, timestamp: 0, event: .alertRuleSet(rule)))
        }
        var times: [Double] = []
        var fired = 0
        let limits = Limits()
        for _ in 0..<runs {
            var state = projection
            var random = SplitMix64(seed: 7)
            let start = ContinuousClock.now
            for _ in 0..<ticks {
                let code = codeNames[Int(random.next() % UInt64(codes))]
                let price = 5 + Double(random.next() % 2_000) / 100
                let tick = PriceTick(code: code, name: code, price: price, volume: 1, prevClose: 15, timestamp: 0)
                if matchOnly {
                    fired += state.alerts.rulesToTrigger(for: tick).count
                    seq += 1
                    state.apply(RecordedEvent(seq: seq, timestamp: 0, event: .priceTicked(tick)))
                    continue
                }
                for event in try Decider.decide(.ingestTicks([FedTick(tick)]), state: state, limits: limits) {
                    if case .alertTriggered = event { fired += 1 }
                    seq += 1
                    state.apply(RecordedEvent(seq: seq, timestamp: 0, event: event))
                }
            }
            times.append(seconds(since: start) / Double(ticks) * 1e9)
        }
        print("\(rules) rules over \(codes) codes (\(rules / codes) per code), \(ticks) ticks per run, \(fired / runs) \(matchOnly ? "rule matches" : "firings") per run")
        print(String(format: "per tick (%@): %.0f ns (median of %d: %@)",
                     matchOnly ? "rulesToTrigger + apply with re-arm" : "decide a one-tick batch with its firings + apply them", median(times), runs,
                     times.map { String(format: "%.0f", $0) }.joined(separator: " ")))
    }
}
