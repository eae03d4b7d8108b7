import Testing
@testable import BrokerClient

/// The client decodes the broker's real JSON (shapes as `ServerMessage` encodes them, keys sorted).
struct BrokerMessageDecodingTests {
    @Test func connectedCarriesTheSessionItsSeqAndWhetherItResumed() throws {
        let text = #"{"client_id":"client_1a2b3c4d","message":"WebSocket session resumed","resumed":true,"seq":1234,"timestamp":"2026-11-23T09:30:00.000000Z","type":"connected"}"#
        #expect(try BrokerMessage.decode(text) == .connected(Connected(
            clientID: "client_1a2b3c4d", seq: 1234, resumed: true, message: "WebSocket session resumed")))
    }

    @Test func connectedCarriesThePriceIntervalTheConnectionGot() throws {
        let text = #"{"client_id":"client_1","message":"WebSocket连接成功","price_interval":0.5,"resume_token":"0f1e","resumed":false,"seq":7,"timestamp":"2026-11-23T09:30:00.000000Z","type":"connected"}"#
        guard case .connected(let connected) = try BrokerMessage.decode(text) else { Issue.record("not connected"); return }
        #expect(connected.priceInterval == 0.5)
        #expect(connected.resumeToken == "0f1e")
    }

    @Test func connectedWithoutResumedIsAFreshSession() throws {
        let text = #"{"type":"connected","client_id":"client_1","message":"WebSocket连接成功","timestamp":"2026-11-23T09:30:00Z"}"#
        guard case .connected(let connected) = try BrokerMessage.decode(text) else { Issue.record("not connected"); return }
        #expect(!connected.resumed)
        #expect(connected.priceInterval == nil)
    }

    @Test func priceUpdateCarriesEveryEntryAndItsSubscription() throws {
        let text = #"{"count":2,"data":[{"change":51.3,"change_percent":2.81,"code":"600519","name":"贵州茅台","price":1876.5,"timestamp":"2026-11-23T09:30:00.123456Z","volume":12345678},{"change":-0.08,"change_percent":-0.72,"code":"000001","name":"平安银行","price":11.02,"timestamp":"2026-11-23T09:30:00.2Z","volume":88000}],"seq":42,"subscription_type":"strategy","target":"volume_wave","timestamp":"2026-11-23T09:30:01.000000Z","type":"price_update"}"#
        guard case .priceUpdate(let update) = try BrokerMessage.decode(text) else { Issue.record("not a price update"); return }
        #expect(update.seq == 42)
        #expect(update.subscription == .strategy("volume_wave"))
        #expect(update.entries.map(\.code) == ["600519", "000001"])
        #expect(update.entries[0].price == 1876.5)
        #expect(update.entries[0].changePercent == 2.81)
        #expect(update.entries[1].change == -0.08)
        #expect(update.entries[0].volume == 12_345_678)
    }

    @Test func klineUpdateCarriesTheBarAndTheStockSubscription() throws {
        let text = #"{"data":{"close":1901.5,"closed":true,"code":"600519","high":1905,"low":1880,"open":1890,"period":"1m","start":1795446720000000,"volume":1200},"seq":77,"subscription_type":"stock","target":"600519","timestamp":"2026-11-23T09:31:00Z","type":"kline_update"}"#
        guard case .klineUpdate(let delivery) = try BrokerMessage.decode(text) else { Issue.record("not a bar"); return }
        #expect(delivery.seq == 77)
        #expect(delivery.subscription == .stock("600519"))
        #expect(delivery.data == KlineBar(
            code: "600519", period: "1m", open: 1890, high: 1905, low: 1880, close: 1901.5, volume: 1200,
            start: 1_795_446_720_000_000, closed: true))
    }

    @Test func newsUpdateCarriesTheItem() throws {
        let text = #"{"data":{"category":"company","codes":["600519"],"id":"n-42","published_at":1795446744468834,"summary":"","title":"茅台公告","url":""},"seq":12,"subscription_type":"news","target":"all","timestamp":"2026-11-23T09:31:00Z","type":"news_update"}"#
        guard case .newsUpdate(let delivery) = try BrokerMessage.decode(text) else { Issue.record("not news"); return }
        #expect(delivery.data.id == "n-42")
        #expect(delivery.data.codes == ["600519"])
        #expect(delivery.data.publishedAt == 1_795_446_744_468_834)
        #expect(delivery.subscription == .news("all"))
    }

    @Test func alertHasNoSubscriptionAndMayLackItsRemovedRule() throws {
        let text = #"{"data":{"code":"600519","price":1903,"rule_id":"r-1","triggered_at":1795446744468834,"user":"alice"},"seq":11,"timestamp":"2026-11-23T09:31:00Z","type":"alert"}"#
        guard case .alert(let delivery) = try BrokerMessage.decode(text) else { Issue.record("not an alert"); return }
        #expect(delivery.subscription == nil)
        #expect(delivery.data.ruleID == "r-1")
        #expect(delivery.data.condition == nil)
        #expect(delivery.data.price == 1903)
    }

    @Test func repliesAndErrorsDecode() throws {
        #expect(try BrokerMessage.decode(#"{"message":"订阅成功","subscription_type":"market","target":"sh","timestamp":"t","type":"subscribed"}"#)
            == .subscribed(.market("sh"), seq: nil))
        #expect(try BrokerMessage.decode(#"{"type":"unsubscribed","subscription_type":"news","target":"all","message":"","seq":42,"timestamp":"t"}"#)
            == .unsubscribed(.news("all"), seq: 42))
        #expect(try BrokerMessage.decode(#"{"timestamp":"t","type":"pong"}"#) == .pong)
        #expect(try BrokerMessage.decode(#"{"details":"session client_1 is past its resume window; started a new session","error":"resume_failed","timestamp":"t","type":"error"}"#)
            == .error(ServerError(error: "resume_failed", details: "session client_1 is past its resume window; started a new session")))
        #expect(try BrokerMessage.decode(#"{"code":"600519","condition":"above","rule_id":"rule_1","threshold":1900,"timestamp":"t","type":"alert_set","user":"alice"}"#)
            == .alertSet(AlertRule(ruleID: "rule_1", code: "600519", condition: "above", threshold: 1900, triggered: nil)))
        #expect(try BrokerMessage.decode(#"{"rule_id":"rule_1","timestamp":"t","type":"alert_removed"}"#) == .alertRemoved(ruleID: "rule_1"))
        #expect(try BrokerMessage.decode(#"{"rules":[{"code":"600519","condition":"below","rule_id":"rule_2","threshold":1800,"triggered":true}],"timestamp":"t","type":"alerts"}"#)
            == .alertRules([AlertRule(ruleID: "rule_2", code: "600519", condition: "below", threshold: 1800, triggered: true)]))
    }

    @Test func anUnknownTypeIsKeptWithItsSeqAndText() throws {
        let text = #"{"data":{"average":10,"code":"600519","price":1900,"volume":90},"seq":99,"subscription_type":"stock","target":"600519","timestamp":"t","type":"volume_spike"}"#
        #expect(try BrokerMessage.decode(text) == .other(type: "volume_spike", seq: 99, json: text))
    }

    @Test func textThatIsNoBrokerMessageIsRefused() {
        #expect(throws: MessageDecodingError.self) { try BrokerMessage.decode("not json") }
        #expect(throws: MessageDecodingError.self) { try BrokerMessage.decode(#"{"no_type":1}"#) }
        #expect(throws: MessageDecodingError.self) { try BrokerMessage.decode(#"{"type":"price_update","data":"oops","seq":1}"#) }
    }

    @Test func commandsEncodeAsTheBrokerExpectsWithTheirID() {
        #expect(ClientCommand.subscribe(.strategy("volume_wave")).json(id: 7)
            == #"{"id":7,"subscription_type":"strategy","target":"volume_wave","type":"subscribe"}"#)
        #expect(ClientCommand.unsubscribe(.alerts).json(id: 8) == #"{"id":8,"subscription_type":"alerts","target":"me","type":"unsubscribe"}"#)
        #expect(IdentifiedCommand.untracked(.ping).json == #"{"id":0,"type":"ping"}"#)
        #expect(ClientCommand.subscribeAll([.stock("600519"), .stock("000001")]).json(id: 9)
            == #"{"id":9,"subscription_type":"stock","targets":["600519","000001"],"type":"subscribe"}"#)
        #expect(ClientCommand.setAlert(code: "600519", condition: .changePercent, threshold: 5.5).json(id: 0)
            == #"{"code":"600519","condition":"change_pct","id":0,"threshold":5.5,"type":"set_alert"}"#)
    }

    @Test func aReplyCarriesTheIDItEchoesAndAPushOrAnOlderBrokersReplyNone() throws {
        let refused = #"{"details":"slow down","error":"rate_limited","id":12,"timestamp":"2026-11-23T09:30:00Z","type":"error"}"#
        #expect(try BrokerMessage.decodeReply(refused).requestID == 12)
        let subscribed = #"{"message":"订阅成功","seq":5,"subscription_type":"news","target":"all","timestamp":"2026-11-23T09:30:00Z","type":"subscribed"}"#
        #expect(try BrokerMessage.decodeReply(subscribed).requestID == nil)
        let push = #"{"data":[],"seq":42,"subscription_type":"stock","target":"600519","timestamp":"2026-11-23T09:30:01Z","type":"price_update"}"#
        #expect(try BrokerMessage.decodeReply(push).requestID == nil)
        // An id this client never sends is no reason to drop the message.
        let foreign = try BrokerMessage.decodeReply(#"{"id":"someone-else","type":"pong"}"#)
        #expect(foreign.message == .pong && foreign.requestID == nil)
    }
}
