/// Failures of the feed connection.
enum HTTPConnectionError: Error, CustomStringConvertible {
    case closedBeforeResponse(method: String, path: String)
    case unexpectedStatus(method: String, path: String, response: HTTPResponse)

    var description: String {
        switch self {
        case .closedBeforeResponse(let method, let path):
            "\(method) \(path): the broker closed the connection before answering"
        case .unexpectedStatus(let method, let path, let response):
            "\(method) \(path): HTTP \(response.status) \(response.body.prefix(300))"
        }
    }
}
