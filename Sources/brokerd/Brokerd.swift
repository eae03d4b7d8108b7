import ArgumentParser

@main
struct Brokerd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "brokerd",
        abstract: "Event-sourced real-time pub/sub broker for market data.",
        subcommands: [ServeCommand.self, ConfigCommand.self, JournalCommand.self])
}
