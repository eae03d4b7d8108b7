import Broker
import Testing

@testable import Publishers

/// Which of its own shared-log entries a node skips when it reads them back.
struct OwnLogEntriesTests {
    private let rule = AlertRule(id: "r", user: "u", code: "600519", condition: .above, threshold: 1)

    @Test func anOwnEntryOfAKeyWrittenAgainSinceIsSupersededUntilTheNewestIsReadBack() {
        let entries = OwnLogEntries()
        var changed = rule
        changed.threshold = 2
        entries.appended(.alertRuleSet(rule), id: "5-0")
        entries.appended(.alertRuleSet(changed), id: "5-1")
        entries.appended(.alertRuleRemoved(ruleID: "other", user: "u"), id: "6-0")
        #expect(entries.pending == 2)

        #expect(entries.isSuperseded(.alertRuleSet(rule), at: "5-0"), "the removal or a set of the same rule later")
        #expect(!entries.isSuperseded(.alertRuleSet(changed), at: "5-1"), "the newest decides")
        #expect(!entries.isSuperseded(.alertRuleRemoved(ruleID: "other", user: "u"), at: "6-0"))
        #expect(entries.pending == 0, "forgotten once read back")
        #expect(!entries.isSuperseded(.alertRuleSet(rule), at: "5-0"), "nothing newer is known now")
    }

    @Test func aStrategysListsAreOneKeyAndNewsBarsAndTicksNone() {
        let entries = OwnLogEntries()
        entries.appended(.signalsReplaced(strategy: "vw", signals: []), id: "9-0")
        // An older id noted late does not hide the newer one.
        entries.appended(.signalsReplaced(strategy: "vw", signals: [Signal(code: "600519", name: "x")]), id: "8-0")
        #expect(entries.isSuperseded(.signalsReplaced(strategy: "vw", signals: [Signal(code: "600519", name: "x")]), at: "8-0"))
        #expect(!entries.isSuperseded(.signalsReplaced(strategy: "other", signals: []), at: "1-0"))
        let news = NewsItem(id: "n", title: "t", summary: "", url: "", codes: [], category: "c", publishedAt: 1)
        entries.appended(.news(news), id: "10-0")
        entries.appended(.bars([]), id: "11-0")
        #expect(entries.pending == 1)
        #expect(!entries.isSuperseded(.news(news), at: "1-0") && !entries.isSuperseded(.bars([]), at: "1-0"))
    }
}
