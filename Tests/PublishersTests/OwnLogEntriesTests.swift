import Broker
import Testing

@testable import Publishers

/// Which of its own shared-log entries a node skips when it reads them back.
struct OwnLogEntriesTests {
    private let rule = AlertRule(id: "r", user: "u", code: "600519", condition: .above, threshold: 1)

    @Test func anOwnEntryOfAKeyWithANewerOwnEntryStillToBeReadIsSuperseded() {
        let entries = OwnLogEntries()
        var changed = rule
        changed.threshold = 2
        entries.appending(.alertRuleSet(rule))
        entries.appending(.alertRuleRemoved(ruleID: "r", user: "u"))
        entries.appending(.alertRuleSet(changed))
        entries.appending(.alertRuleRemoved(ruleID: "other", user: "u"))
        #expect(entries.pending == 2)

        #expect(entries.readBack(.alertRuleSet(rule)), "a removal and a set of the same rule are still to come")
        #expect(entries.readBack(.alertRuleRemoved(ruleID: "r", user: "u")))
        #expect(!entries.readBack(.alertRuleSet(changed)), "the newest decides")
        #expect(!entries.readBack(.alertRuleRemoved(ruleID: "other", user: "u")))
        #expect(entries.pending == 0, "forgotten once read back")
        #expect(!entries.readBack(.alertRuleSet(rule)), "an entry this process did not count (an earlier one's) is not superseded")
    }

    @Test func anAppendThatDidNotGoThroughIsTakenBackSoNoEntryWaitsForIt() {
        let entries = OwnLogEntries()
        let first = SharedUpdate.signalsReplaced(strategy: "vw", signals: [])
        let second = SharedUpdate.signalsReplaced(strategy: "vw", signals: [Signal(code: "600519", name: "x")])
        entries.appending(first)
        entries.appending(second)
        entries.notAppended(second)
        #expect(!entries.readBack(first), "the second never reached the log")
        #expect(entries.pending == 0)
    }

    @Test func newsBarsAndTicksAreNotCounted() {
        let entries = OwnLogEntries()
        let news = NewsItem(id: "n", title: "t", summary: "", url: "", codes: [], category: "c", publishedAt: 1)
        for update in [SharedUpdate.news(news), .bars([]), .ticks([])] {
            entries.appending(update)
            entries.appending(update)
            #expect(!entries.readBack(update))
        }
        #expect(entries.pending == 0)
    }
}
