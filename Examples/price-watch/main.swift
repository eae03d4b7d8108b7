// Prints the prices of a strategy and the news, staying connected through broker restarts.
// Run against a local broker: swift run price-watch [ws://127.0.0.1:8000/ws/stock/prices] [strategy]
import BrokerClient

let arguments = CommandLine.arguments.dropFirst()
let url = arguments.first ?? "ws://127.0.0.1:8000/ws/stock/prices"
let strategy = arguments.dropFirst().first ?? "volume_wave"

// README: Swift client
let client = BrokerClient(configuration: BrokerClientConfiguration(
    url: url,
    token: nil,                                    // a JWT when the broker has jwt_secret set
    subscriptions: [.strategy(strategy), .news("all")]
))

Task {
    for await state in client.stateUpdates() {
        print("state:", state)                     // connecting, connected, backingOff(…), resumed…
    }
}

Task {
    do {
        try await client.run()                     // reconnects and resumes until stop()
    } catch {
        print("gave up:", error)                   // the reconnect schedule was used up
    }
}

for await message in client.messages {
    switch message {
    case .priceUpdate(let update):
        for entry in update.entries {
            print(entry.code, entry.name, entry.price, "\(entry.changePercent)%")
        }
    case .newsUpdate(let news):
        print("news #\(news.seq):", news.data.title)
    case .error(let error):
        print("broker says:", error)
    default:
        break
    }
}
// README end
