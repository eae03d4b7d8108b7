import ArgumentParser
import Broker
import Foundation
import Hummingbird
import Logging
import NIOCore
import Journal
import ServiceLifecycle
import UnixSignals

/// `brokerd serve`: the WebSocket broker and HTTP API.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the broker: replay the journal, then serve WebSocket clients and the HTTP API.",
        discussion: "Every setting comes from a flag, else BROKERD_<NAME>, else the TOML file, else its default.")

    @OptionGroup var options: ServeOptions

    func run() async throws {
        // SIGHUP reloads the configuration once the services run (`ReloadOnHangup`); until then
        // (the journal opening) it is ignored, not the default end of the process: a
        // `systemctl reload` during a start must not stop the broker.
        signal(SIGHUP, SIG_IGN)
        let configuration: Configuration
        do {
            configuration = try Configuration.load(flags: options)
        } catch {
            FileHandle.standardError.write(Data("brokerd: \(error)\n".utf8))
            throw ExitCode(2)
        }
        // Every handler reads its level and format off the switches, which a reload of log_level
        // and log_format sets.
        let logLevels = LogLevelSwitch(configuration.logLevel)
        let logFormats = LogFormatSwitch(configuration.logFormat)
        LoggingSystem.bootstrap { label in
            SwitchedLevelHandler(SwitchedFormatHandler(label: label, formats: logFormats), levels: logLevels)
        }
        let logger = Logger(label: "brokerd")
        for name in Configuration.unrecognizedEnvironmentNames(in: ProcessInfo.processInfo.environment) {
            logger.warning("ignoring unknown environment variable", metadata: ["name": "\(name)"])
        }
        let tokenVerifier = await ClientTokenVerifier(auth: configuration.auth, logger: logger)
        if let tokenVerifier {
            logger.info(
                "client authentication on: WebSocket clients need a JWT",
                metadata: ["algorithms": "\(tokenVerifier.algorithms.joined(separator: ","))"])
        }
        // Before the server listens: a journal start-up cannot use (in use by another brokerd, not a
        // journal, of a newer format) stops it with one line, not after clients could connect.
        let journal: Journal
        do {
            journal = try Self.openJournal(configuration)
        } catch {
            logger.critical("brokerd stopped", metadata: ["error": "\(error)"])
            throw ExitCode(Self.restartCannotFix(error) ? 2 : 1)
        }
        let resumeKey: ResumeKey
        do {
            resumeKey = try ResumeKey.loadOrCreate(besideJournal: configuration.journalPath)
        } catch {
            journal.close()
            logger.critical("brokerd stopped", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        let options = options
        let systemd = SystemdNotifier.fromEnvironment(ProcessInfo.processInfo.environment, logger: logger)
        let runtime = BrokerRuntime(
            configuration: configuration, logger: logger, metrics: BrokerMetrics.bootstrap(), tokenVerifier: tokenVerifier,
            resumeKey: resumeKey, logLevels: logLevels, logFormats: logFormats, systemd: systemd,
            source: { () throws(ConfigurationError) in try Configuration.load(flags: options) })
        let listeningLogger = logger
        let application = BrokerServer.makeApplication(runtime: runtime) { port in
            listeningLogger.info("listening", metadata: ["host": "\(configuration.host)", "port": .stringConvertible(port)])
            systemd?.listening(host: configuration.host, port: port)
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [application, BrokerService(runtime: runtime, journal: journal), ReloadOnHangup(runtime: runtime)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            // Closed already when the broker got as far as its shutdown; a second close does nothing.
            journal.close()
            if let problem = Self.listenProblem(error) {
                logger.critical("cannot listen on \(configuration.host):\(configuration.port): \(problem)")
                throw ExitCode(1)
            }
            logger.critical("brokerd stopped", metadata: ["error": "\(error)"])
            // Like a bad setting, a journal start-up cannot use stays so: a restart would fail again.
            throw ExitCode(Self.restartCannotFix(error) ? 2 : 1)
        }
    }

    /// Opens (creating it and its directory if need be) the configured journal and takes its lock.
    static func openJournal(_ configuration: Configuration) throws -> Journal {
        let path = configuration.journalPath
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var options = JournalOptions(durability: configuration.durability)
        options.cacheMiB = configuration.journalCacheMiB
        return try Journal.open(path: path, options: options)
    }

    /// What kept the server from its address (in use, not this host's, a port below 1024 without
    /// the right), from NIO's error for a failed `bind`, which names neither host nor port; nil for
    /// any other error.
    static func listenProblem(_ error: any Error) -> String? {
        guard let error = error as? IOError, "\(error)".hasPrefix("bind(") else { return nil }
        return String(cString: strerror(error.errnoCode))
    }

    /// Whether `error` stopped start-up for a reason that restarting cannot change: history the
    /// journal lacks, an event this build cannot read, a row that does not chain (edited or
    /// damaged), a file that is not (or no longer) a journal brokerd wrote. Not a journal in use
    /// or a failed read: those may pass.
    static func restartCannotFix(_ error: any Error) -> Bool {
        switch error {
        case is MissingHistory, is UnreadableEvent, is BrokenChain: return true
        case let error as JournalError:
            switch error {
            case .notAJournal, .tampered, .newerFormat, .unfinishedWrite: return true
            default: return false
            }
        default: return false
        }
    }
}

/// Reloads the configuration on each SIGHUP (`systemctl reload brokerd`, `kill -HUP`), until the
/// broker shuts down. Last among the services, so it stops first.
struct ReloadOnHangup: Service {
    let runtime: BrokerRuntime

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        for await _ in hangups.cancelOnGracefulShutdown() {
            runtime.logger.notice("SIGHUP: reloading the configuration")
            _ = await runtime.reload()
        }
    }
}
