import Testing
@testable import BrokerClient

/// The URL of a connection attempt: the endpoint plus resume, since and token.
struct ConnectTargetTests {
    let base = "ws://127.0.0.1:8000/ws/stock/prices"

    @Test func aFreshConnectIsTheEndpointItself() {
        #expect(ConnectTarget(resume: nil, queryToken: nil).url(base: base) == base)
    }

    @Test func aResumeNamesTheSessionAndThePosition() {
        #expect(ConnectTarget(resume: ("client_1a2b3c4d", 1234), queryToken: nil).url(base: base)
            == base + "?resume=client_1a2b3c4d&since=1234")
    }

    @Test func aResumeBringsTheSessionsResumeToken() {
        #expect(ConnectTarget(resume: ("client_1a2b3c4d", 12), queryToken: nil, resumeToken: "0f1e").url(base: base + "?resume_token=old")
            == base + "?resume=client_1a2b3c4d&since=12&resume_token=0f1e")
    }

    @Test func outOfTheQueryTheResumeTokenGoesInItsHeader() {
        var target = ConnectTarget(resume: ("client_1a2b3c4d", 12), queryToken: nil, resumeToken: "0f1e")
        #expect(target.resumeTokenHeaderValue == nil, "in the query, not the header")
        target.resumeTokenInQuery = false
        #expect(target.url(base: base + "?resume_token=old") == base + "?resume=client_1a2b3c4d&since=12")
        #expect(target.resumeTokenHeaderValue == "0f1e")
        #expect(ConnectTarget(resume: nil, queryToken: nil, resumeToken: "0f1e", resumeTokenInQuery: false).resumeTokenHeaderValue == nil,
            "a fresh session brings none")
    }

    @Test func aResumeWithoutAPositionOmitsSince() {
        #expect(ConnectTarget(resume: ("client_1", nil), queryToken: nil).url(base: base) == base + "?resume=client_1")
    }

    @Test func aQueryTokenJoinsWhatTheURLAlreadyHas() {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln-_"
        #expect(ConnectTarget(resume: ("client_1", 7), queryToken: token).url(base: base + "?lang=zh&resume=old")
            == base + "?lang=zh&resume=client_1&since=7&token=" + token)
    }
}
