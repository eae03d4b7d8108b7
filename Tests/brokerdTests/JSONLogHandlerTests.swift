import Foundation
import Logging
import Testing
import TestSupport

@testable import brokerd

/// The lines of `log_format = "json"`: one JSON object each, fixed fields first, metadata by name.
struct JSONLogHandlerTests {
    private func object(_ line: String) throws -> [String: Any] {
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1, "one line: \(line)")
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func aLineIsOneObjectWithTheFixedFieldsFirstThenTheMetadataSortedByName() throws {
        let line = JSONLogHandler.line(
            time: 1_764_999_000_123_456, level: .warning, label: "brokerd", message: "client connected",
            metadata: ["user": "alice", "client": "client_1a2b3c4d", "port": .stringConvertible(8000)])
        #expect(line.hasPrefix(#"{"time":"2025-12-06T05:30:00.123456Z","level":"warning","label":"brokerd","message":"client connected","#), "\(line)")
        #expect(line.hasSuffix(#""client":"client_1a2b3c4d","port":8000,"user":"alice"}"# + "\n"))
        let fields = try object(line)
        #expect(fields.count == 7 && fields["port"] as? Int == 8000)
    }

    @Test func numbersAndFlagsGivenAsValuesAreJSONNumbersAndBooleansAndTextStaysText() throws {
        let line = JSONLogHandler.line(
            time: 0, level: .info, label: "l", message: "m",
            metadata: [
                "seq": .stringConvertible(UInt64.max), "rate": .stringConvertible(2.5), "whole": .stringConvertible(20.0),
                "resumed": .stringConvertible(true), "infinite": .stringConvertible(Double.infinity), "text": "42",
                "delay": .stringConvertible(Duration.seconds(2)),
            ])
        #expect(line.contains(#""seq":18446744073709551615,"#) && line.contains(#""rate":2.5,"#) && line.contains(#""whole":20}"#), "\(line)")
        let fields = try object(line)
        #expect(fields["resumed"] as? Bool == true)
        #expect(fields["infinite"] as? String == "inf", "JSON has no infinity")
        #expect(fields["text"] as? String == "42", "a string stays one")
        #expect(fields["delay"] as? String == "2.0 seconds")
    }

    @Test func whatItWritesIsEscapedSoNoValueBreaksTheLineOrForgesAField() throws {
        let hostile = "x\"\n2026 crit FAKE\\ \u{1B}[31m"
        let line = JSONLogHandler.line(time: 0, level: .info, label: "l", message: hostile, metadata: ["token": .string(hostile)])
        let fields = try object(line)
        #expect(fields["message"] as? String == hostile && fields["token"] as? String == hostile)
    }

    @Test func nestedMetadataIsJSONAndAFixedFieldsNameIsKeptApart() throws {
        let line = JSONLogHandler.line(
            time: 0, level: .error, label: "l", message: "m",
            metadata: ["codes": ["600519", "000001"], "limits": ["burst": "40", "rate": "20"], "message": "mine", "level": "x"])
        let fields = try object(line)
        #expect(fields["codes"] as? [String] == ["600519", "000001"])
        #expect(fields["limits"] as? [String: String] == ["burst": "40", "rate": "20"])
        #expect(fields["message"] as? String == "m" && fields["meta_message"] as? String == "mine")
        #expect(fields["level"] as? String == "error" && fields["meta_level"] as? String == "x")
    }
}

/// A real broker started with `--log-format json`: every line it writes is one JSON object.
@Suite(.serialized) struct ServerJSONLogTests {
    @Test func everyLineTheBrokerWritesIsAJSONObjectWithItsFieldsByName() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(
            journal: dir.path("j.sqlite"), arguments: ["--log-format", "json"], listening: BrokerProcess.jsonListening)
        let socket = TestWebSocket(url: broker.webSocketURL)
        let connected = try #require(try await socket.receive(type: "connected"))
        await socket.close()
        let clientID = try #require(connected["client_id"] as? String)
        var disconnect: [String: Any]?
        for _ in 0..<100 where disconnect == nil {
            try await Task.sleep(for: .milliseconds(50))
            disconnect = try lines(of: broker).first { $0["message"] as? String == "client disconnected" }
        }
        #expect(disconnect?["client"] as? String == clientID && disconnect?["reason"] as? String == "closed", "\(disconnect ?? [:])")
        #expect(await broker.terminate() == 0)

        let all = try lines(of: broker)
        #expect(all.count > 3)
        for line in all {
            #expect(line["time"] is String && line["level"] is String && line["label"] is String && line["message"] is String, "\(line)")
        }
        #expect(all.contains { $0["message"] as? String == "listening" && $0["port"] as? Int == broker.port })
    }

    /// The broker's log so far, each line parsed (a line that is no JSON object fails the test).
    private func lines(of broker: BrokerProcess) throws -> [[String: Any]] {
        try broker.logText.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
    }
}
