/// A response of the broker's HTTP API.
struct HTTPResponse: Sendable {
    let status: Int
    let body: String

    var isSuccess: Bool { (200..<300).contains(status) }
}
