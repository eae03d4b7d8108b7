import ArgumentParser

/// Placeholder until the broker projection lands in this tool.
struct ReplaySpeed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "replay", abstract: "Full replay into the projection.")
    func run() async throws {}
}

struct ColdStart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coldstart", abstract: "Cold start of a large journal.")
    func run() async throws {}
}
