import Testing

@testable import brokerd

/// Parsing client messages: shapes that must be accepted or refused whatever the platform's bridging.
@Suite struct ClientRequestTests {
    private func setAlert(threshold: String) throws(ClientRequest.Rejection) -> ClientRequest {
        try ClientRequest.parse(
            #"{"type":"set_alert","code":"600519","condition":"above","threshold":\#(threshold)}"#, maxTargetLength: 64)
    }

    @Test(arguments: [("0", 0.0), ("1", 1.0), ("1.0", 1.0), ("2", 2.0), ("1850.5", 1850.5), ("-3", -3.0)])
    func setAlertAcceptsEveryNumberAsThreshold(_ text: String, _ value: Double) throws {
        #expect(try setAlert(threshold: text) == .setAlert(code: "600519", condition: .above, threshold: value))
    }

    @Test(arguments: ["true", "false", #""1""#, "null"])
    func setAlertRefusesAThresholdThatIsNotANumber(_ text: String) {
        #expect(throws: ClientRequest.Rejection.self) { try setAlert(threshold: text) }
        do {
            _ = try setAlert(threshold: text)
        } catch {
            #expect(error.error == "invalid_threshold")
        }
    }
}
