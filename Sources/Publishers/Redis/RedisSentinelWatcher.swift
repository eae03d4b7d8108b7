import Logging
import Synchronization

/// What the Sentinel watcher knows, for the stats.
public struct RedisSentinelSnapshot: Sendable, Hashable, Codable {
    /// Its connection to a sentinel.
    public var state: RedisSourceState = .stopped
    /// The sentinel it listens to, or tries (`host:port`).
    public var sentinel: String?
    /// Where the sentinels last said the master is (`host:port`); nil before the first answer.
    public var master: String?
    /// What the master it follows last answered to `ROLE` (asked when a sentinel names it, then
    /// every health check): `master`, `replica`, `unreachable`, or `unknown` when it refused
    /// `ROLE`; nil before it was asked. Anything but `master` or `unknown` for longer than a check
    /// means a failover under way, or one no sentinel it can ask knows of.
    public var masterRole: String?
    /// The epoch of the sentinels' configuration the node follows (`config-epoch`: a failover's,
    /// the highest is the newest), as the sentinels naming the master it follows last said at a
    /// check; nil before the first check, or when none of them names it.
    public var configEpoch: UInt64?
    /// Failovers followed since the start (the master moved while it listened).
    public var switches = 0
    /// The last failure to reach a sentinel or to get an answer from it.
    public var lastError: String?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case state, sentinel, master, switches
        case masterRole = "master_role"
        case configEpoch = "config_epoch"
        case lastError = "last_error"
    }
}

/// Follows the master of a Redis Sentinel deployment, so the broker's Redis connections follow a
/// failover by themselves: asks the sentinels where the master named `master` is, moves `address`
/// there (`RedisAddress.move(to:)`, keeping its user, password and database), and moves it again
/// whenever a sentinel announces a new master (`+switch-master`).
///
/// A thread of its own, as the readers: it listens to one sentinel at a time and goes to the next
/// when that one fails, backing off after each round in which none answered. Each connection
/// subscribes first and asks where the master is second, so no switch falls between the two; the
/// instance named is asked whether it is the master (`ROLE`, the Sentinel client spec's step 3),
/// and one that says it is a replica is not followed: that sentinel counts as failed.
/// `watch(sentinels:master:)` gives it other sentinels, or another master name, while it runs.
///
/// A sentinel that is listened to can miss a failover: one cut off from the others keeps naming
/// the old master and announces nothing, and a pub/sub announcement can be lost. So every
/// `healthCheckInterval` the watcher asks the master it follows for its `ROLE` too; when that one
/// says it is a replica, or cannot be reached, it asks the sentinels (the one it listens to
/// first) and follows another master one of them names, if that one answers `ROLE` as the master,
/// then listens to that sentinel. (A master that refuses `ROLE` is not checked.)
///
/// Nor does it rely on the one sentinel it listens to: a sentinel on the minority side of a
/// network split keeps naming the old master, which still says it is the master, while the
/// others fail over to a replica. So at each check it asks every sentinel for its configuration
/// (`SENTINEL MASTER`, on a connection kept per sentinel); when the newest (the highest
/// `config-epoch`: each failover raises it, and a sentinel fails over only with the votes of a
/// majority, unless an operator forces it with `SENTINEL FAILOVER`) names another instance that
/// answers `ROLE` as the master, the watcher follows that one and listens to that sentinel.
public final class RedisSentinelWatcher: Sendable {
    /// The sentinels it asks and the master name it asks them about.
    private struct Watched: Equatable {
        var sentinels: [RedisURL]
        var master: String
    }

    private let watched: Mutex<Watched>
    private let address: RedisAddress
    private let connectTimeout: Duration
    private let backoff: ReconnectBackoff
    private let healthCheckInterval: Duration
    /// The listening connection's name on the sentinel (`CLIENT SETNAME`).
    private let clientName: String
    /// The name of its connection to the master it follows, for the checks (`recheckMaster`).
    private let checkName: String
    /// The name of its connections to the sentinels for their configurations (`followNewestConfiguration`).
    private let askName: String
    /// The newest configuration last seen naming a master that could not be confirmed (logged once).
    private let unconfirmed = Mutex<Configuration?>(nil)
    private let logger: Logger
    private let control = ReaderThreadControl()
    private let started = Atomic(false)
    private let state = Mutex(RedisSentinelSnapshot())
    /// Whether the sentinels were asked once (an answer, or every one of them failed), and who waits for it.
    private let firstRound = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// The sentinels' channel announcing failovers: `<name> <old ip> <old port> <new ip> <new port>`.
    static let switchChannel = "+switch-master"

    public init(
        sentinels: [RedisURL], master: String, address: RedisAddress, connectTimeout: Duration = .seconds(2),
        backoff: ReconnectBackoff = .init(), healthCheckInterval: Duration = .seconds(5), node: String? = nil,
        logger: Logger = Logger(label: "brokerd.redis.sentinel")
    ) {
        watched = Mutex(Watched(sentinels: sentinels, master: master))
        clientName = RedisConnection.clientName("sentinel", node: node)
        checkName = RedisConnection.clientName("sentinel-check", node: node)
        askName = RedisConnection.clientName("sentinel-ask", node: node)
        self.address = address
        self.connectTimeout = connectTimeout
        self.backoff = backoff
        self.healthCheckInterval = healthCheckInterval
        self.logger = logger
    }

    /// The sentinels, tried in turn (user and password for the sentinel's own AUTH, if any).
    public var sentinels: [RedisURL] { watched.withLock { $0.sentinels } }

    /// The name the sentinels monitor the master under (`sentinel monitor <name> …`).
    public var master: String { watched.withLock { $0.master } }

    /// State and counters, consistent with each other.
    public var snapshot: RedisSentinelSnapshot { state.withLock { $0 } }

    /// Asks `sentinels` about the master named `master` from now on (a reload of
    /// `redis_sentinels` or `redis_sentinel_master`): the connection to the sentinel it listens to
    /// ends, a backoff sleep ends, and the first of the new sentinels is asked at once, with no
    /// failure counted; its answer moves the address as at start-up. False, and nothing happens,
    /// when they are what it watches already, or `sentinels` is empty (a watcher cannot stop
    /// watching: that is `stop()`).
    @discardableResult
    public func watch(sentinels: [RedisURL], master: String) -> Bool {
        guard !sentinels.isEmpty else { return false }
        let next = Watched(sentinels: sentinels, master: master)
        let changed = watched.withLock { watched in
            defer { watched = next }
            return watched != next
        }
        guard changed else { return false }
        logger.notice(
            "Redis sentinels changed: asking them where the master is",
            metadata: ["sentinels": "\(sentinels.map(\.endpoint).joined(separator: ","))", "master": "\(master)"])
        control.requestReconnect()
        return true
    }

    /// Starts the watcher's thread and returns once the sentinels were asked: after the first
    /// answer (the address is the master's then), or once every sentinel failed once (the address
    /// stays as it was, and the watcher goes on trying). So the broker's connections open at the
    /// master when a sentinel is there to say where it is.
    public func start() async {
        guard !sentinels.isEmpty else { return endFirstRound() }
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        state.withLock { $0.state = .connecting }
        ReaderThreadControl.spawn(name: "redis-sentinel") { [self] in run() }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = firstRound.withLock { round in
                if !round.done { round.waiters.append(continuation) }
                return round.done
            }
            if done { continuation.resume() }
        }
    }

    /// Ends the thread (interrupting a read or a backoff) and returns once it has ended.
    public func stop() async {
        control.requestStop()
        guard started.load(ordering: .acquiring) else { return }
        await control.waitUntilFinished()
    }

    private func endFirstRound() {
        let waiters = firstRound.withLock { round in
            defer { round = (true, []) }
            return round.done ? [] : round.waiters
        }
        waiters.forEach { $0.resume() }
    }

    private func run() {
        var backoff = self.backoff
        var next = 0
        var failedInARow = 0
        defer {
            state.withLock { $0.state = .stopped }
            endFirstRound()
            control.finish()
        }
        while !control.isStopping {
            // Other sentinels or another name (`watch`): the first of them, at once.
            if control.takeReconnectRequest() {
                (next, failedInARow) = (0, 0)
                backoff.reset()
            }
            let (sentinels, master) = watched.withLock { ($0.sentinels, $0.master) }
            let sentinel = sentinels[next % sentinels.count]
            state.withLock {
                $0.state = .connecting
                $0.sentinel = sentinel.endpoint
            }
            do {
                let knowing = try listen(to: sentinels, at: next % sentinels.count, master: master) {
                    if failedInARow > 0 {
                        logger.info(
                            "listening to a Redis sentinel", metadata: ["sentinel": "\(sentinel.endpoint)", "master": "\(master)", "failures_before": "\(failedInARow)"])
                    }
                    failedInARow = 0
                    backoff.reset()
                    endFirstRound()
                }
                // The master moved, and another sentinel knew: listen to that one now.
                if let knowing { next = knowing }
            } catch {
                if control.isStopping { break }
                // Ended for `watch`, not a failure: the loop's top takes the request.
                if control.hasReconnectRequest { continue }
                failedInARow += 1
                state.withLock { $0.lastError = "\(sentinel.endpoint): \(error)" }
                // The first failure of an outage is news; the retries that follow are not.
                if failedInARow == 1 {
                    logger.warning(
                        "Redis sentinel failed; trying the next", metadata: ["sentinel": "\(sentinel.endpoint)", "error": "\(error)"])
                } else {
                    logger.debug("Redis sentinel failed", metadata: ["sentinel": "\(sentinel.endpoint)", "error": "\(error)"])
                }
                next += 1
                // Each sentinel tried once with no answer: back off before the next round.
                if failedInARow % sentinels.count == 0 {
                    state.withLock { $0.state = .backingOff }
                    endFirstRound()
                    if !control.sleep(for: backoff.nextDelay()) { break }
                }
            }
        }
    }

    /// One connection to `sentinels[index]`: subscribe to its failover announcements, ask it where
    /// the master named `master` is, then follow the announcements, and check the master every
    /// `healthCheckInterval` (`recheckMaster`), until the connection fails, the watcher stops or
    /// is given other sentinels, or another sentinel named the master the address moved to: that
    /// one's index is returned.
    private func listen(to sentinels: [RedisURL], at index: Int, master: String, located: () -> Void) throws(RedisError) -> Int? {
        let sentinel = sentinels[index]
        let connection = try RedisConnection(url: sentinel, timeout: connectTimeout, name: clientName)
        defer {
            control.detach()
            connection.close()
        }
        guard control.attach(connection.fileDescriptor) else { return nil }
        connection.enableKeepAlive()
        let subscribe = "SUBSCRIBE \(Self.switchChannel)"
        let reply = try connection.command(["SUBSCRIBE", Self.switchChannel])
        guard case .array(let items) = reply, items.first?.text == "subscribe" else {
            if case .error(let message) = reply { throw .commandFailed(command: subscribe, message: message) }
            throw .unexpectedReply(command: subscribe, reply: reply.description)
        }
        // Asked once subscribed (a subscribed connection takes no other command): a switch after
        // the answer is announced on the subscription.
        let found = try askForMaster(sentinel, named: master)
        try confirmMaster(found)
        move(to: found, named: master, switched: false)
        state.withLock {
            $0.state = .connected
            $0.lastError = nil
        }
        located()
        var pingUnanswered = false
        var nextCheck = ContinuousClock.now + healthCheckInterval
        // Kept from check to check while it leads to the address: one connection, not one per check.
        var check: RedisConnection?
        // One per sentinel, kept likewise, to ask them for their configurations.
        var asking = Asking(sentinels: sentinels.count)
        defer {
            check?.close()
            asking.close()
        }
        while !control.isStopping {
            if ContinuousClock.now >= nextCheck {
                if let knowing = recheckMaster(named: master, listeningTo: index, of: sentinels, on: &check, asking: &asking),
                    knowing != index
                {
                    return knowing
                }
                nextCheck = ContinuousClock.now + healthCheckInterval
            }
            guard let push = try connection.nextReply(within: healthCheckInterval) else {
                // Quiet: a PING tells a sentinel that is there from one that took the connection and answers nothing.
                if pingUnanswered { throw .connectionLost(reason: "the sentinel answered no PING within \(healthCheckInterval)") }
                try connection.send(["PING"])
                pingUnanswered = true
                continue
            }
            pingUnanswered = false
            guard case .array(let parts) = push, parts.count == 3, parts[0].text == "message", parts[1].text == Self.switchChannel,
                let text = parts[2].text
            else { continue }
            if let announced = Self.newMaster(in: text, named: master) { move(to: announced, named: master, switched: true) }
        }
        return nil
    }

    /// Asks the master the address leads to for its role (on `check`, opened when there is none
    /// or it leads elsewhere, closed when it fails); when it says it is a replica or cannot
    /// be reached, asks the sentinels, the one listened to (`sentinels[listening]`) first, and
    /// moves the address to the first other instance one of them names that answers `ROLE` as the
    /// master. When it says it is the master (or refuses `ROLE`), follows the sentinels' newest
    /// configuration if that names another (`followNewestConfiguration`). Returns the
    /// index of the sentinel that named the master moved to; nil when the address stays.
    private func recheckMaster(
        named master: String, listeningTo listening: Int, of sentinels: [RedisURL], on check: inout RedisConnection?,
        asking: inout Asking
    ) -> Int? {
        let url = address.url
        let current = (host: url.host, port: url.port)
        if let open = check, open.endpoint != url.endpoint {
            open.close()
            check = nil
        }
        let doubt: String
        let answer = role(of: current, on: &check)
        state.withLock { $0.masterRole = answer.label }
        switch answer {
        case .master, .unknown: return followNewestConfiguration(named: master, listeningTo: listening, of: sentinels, asking: &asking)
        case .other: doubt = "it says it is a \(answer.label)"
        case .unreachable(let error): doubt = "\(error)"
        }
        for offset in 0..<sentinels.count {
            guard !control.isStopping, !control.hasReconnectRequest else { return nil }
            let index = (listening + offset) % sentinels.count
            guard let named = try? askForMaster(sentinels[index], named: master), named != current,
                case .master = role(of: named)
            else { continue }
            logger.warning(
                "Redis master changed without an announcement from the sentinel listened to",
                metadata: [
                    "master": "\(master)", "was": "\(url.endpoint)", "because": "\(doubt)",
                    "named_by": "\(sentinels[index].endpoint)", "listened_to": "\(sentinels[listening].endpoint)",
                ])
            move(to: named, named: master, switched: true)
            state.withLock { $0.masterRole = Role.master.label }
            return index
        }
        logger.debug(
            "the master's role is in doubt and no sentinel names another", metadata: ["address": "\(url.endpoint)", "because": "\(doubt)"])
        return nil
    }

    /// Asks every sentinel for its configuration of `master` (on `asking`'s connections; one that
    /// cannot be reached is left out of the next checks). When the newest of them (the highest `config-epoch`)
    /// is newer than every one naming the master the address leads to, and names another instance
    /// that answers `ROLE` as the master (or refuses `ROLE`: the newest configuration's word
    /// stands), moves the address there and returns that sentinel's index. A newest master that
    /// cannot be reached, or says it is a replica, is not followed (a failover under way); that is
    /// logged once.
    private func followNewestConfiguration(
        named master: String, listeningTo listening: Int, of sentinels: [RedisURL], asking: inout Asking
    ) -> Int? {
        let url = address.url
        var answers: [(index: Int, configuration: Configuration)] = []
        for index in sentinels.indices {
            guard !control.isStopping, !control.hasReconnectRequest else { return nil }
            guard asking.isDue(index) else { continue }
            if let configuration = configuration(of: master, from: sentinels[index], on: &asking.connections[index]) {
                answers.append((index, configuration))
            } else if asking.connections[index] == nil {
                asking.skip(index)
            }
        }
        let followed = answers.filter { $0.configuration.endpoint == url.endpoint }.map(\.configuration.epoch).max()
        state.withLock { $0.configEpoch = followed }
        // Moved for a newer configuration only: not when none answering names the one followed
        // (the one listened to named it; if it is gone, listening to it fails and the next is asked).
        guard let followed, let newest = answers.max(by: { $0.configuration.epoch < $1.configuration.epoch }),
            newest.configuration.epoch > followed
        else {
            unconfirmed.withLock { $0 = nil }
            return nil
        }
        let answer = role(of: (newest.configuration.host, newest.configuration.port))
        let metadata: Logger.Metadata = [
            "master": "\(master)", "was": "\(url.endpoint)", "config_epoch_was": "\(followed)",
            "newest": "\(newest.configuration.endpoint)", "config_epoch": "\(newest.configuration.epoch)",
            "named_by": "\(sentinels[newest.index].endpoint)", "listened_to": "\(sentinels[listening].endpoint)",
        ]
        switch answer {
        case .master, .unknown:
            break
        case .other, .unreachable:
            let first = unconfirmed.withLock { last in
                defer { last = newest.configuration }
                return last != newest.configuration
            }
            if first {
                logger.warning(
                    "Redis sentinels disagree, and the master of the newest configuration cannot be confirmed; staying",
                    metadata: metadata.merging(["its_role": "\(answer.label)"]) { $1 })
            }
            return nil
        }
        unconfirmed.withLock { $0 = nil }
        logger.warning("Redis sentinels disagree: following the master of their newest configuration", metadata: metadata)
        move(to: (newest.configuration.host, newest.configuration.port), named: master, switched: true)
        state.withLock {
            $0.masterRole = answer.label
            $0.configEpoch = newest.configuration.epoch
        }
        return newest.index
    }

    /// The watcher's connections to the sentinels for their configurations, one per sentinel, kept
    /// from check to check. A sentinel that could not be reached (or asked: the connection failed)
    /// is left out of the next `Self.skipped` checks: one whose host drops packets costs the
    /// connect timeout once in that many checks, not at each, while the sentinel listened to waits.
    struct Asking {
        static let skipped = 5
        var connections: [RedisConnection?]
        /// Per sentinel, the checks it is still left out of.
        private var skips: [Int]

        init(sentinels: Int) {
            connections = Array(repeating: nil, count: sentinels)
            skips = Array(repeating: 0, count: sentinels)
        }

        /// Whether sentinel `index` is asked at this check; counts a check it is left out of.
        mutating func isDue(_ index: Int) -> Bool {
            guard skips[index] > 0 else { return true }
            skips[index] -= 1
            return false
        }

        mutating func skip(_ index: Int) { skips[index] = Self.skipped }

        func close() { connections.forEach { $0?.close() } }
    }

    /// A sentinel's configuration of a master: where it is, and the epoch of the failover that
    /// put it there.
    struct Configuration: Equatable {
        var host: String
        var port: Int
        var epoch: UInt64
        var endpoint: String { "\(host):\(port)" }

        /// From the reply to `SENTINEL MASTER <name>`: field names and values, one after the other.
        init?(_ reply: RedisReply) {
            guard case .array(let items) = reply, items.count.isMultiple(of: 2) else { return nil }
            var fields: [String: String] = [:]
            for at in stride(from: 0, to: items.count, by: 2) {
                if let name = items[at].text, let value = items[at + 1].text { fields[name] = value }
            }
            guard let host = fields["ip"], !host.isEmpty, let port = fields["port"].flatMap({ Int($0) }), (1...65_535).contains(port),
                let epoch = fields["config-epoch"].flatMap({ UInt64($0) })
            else { return nil }
            (self.host, self.port, self.epoch) = (host, port, epoch)
        }

        init(host: String, port: Int, epoch: UInt64) {
            (self.host, self.port, self.epoch) = (host, port, epoch)
        }
    }

    /// What `sentinel` says of the master named `master` (`SENTINEL MASTER`) on `connection`
    /// (opened, named `askName`, when nil; closed and set to nil when it fails); nil when it
    /// cannot be asked or does not know the name.
    private func configuration(of master: String, from sentinel: RedisURL, on connection: inout RedisConnection?) -> Configuration? {
        do {
            let reply = try command(["SENTINEL", "MASTER", master], to: sentinel, named: askName, on: &connection)
            let configuration = Configuration(reply)
            if configuration == nil {
                logger.debug("a sentinel's configuration could not be read", metadata: ["sentinel": "\(sentinel.endpoint)", "reply": "\(reply)"])
            }
            return configuration
        } catch {
            logger.debug("a sentinel could not be asked for its configuration", metadata: ["sentinel": "\(sentinel.endpoint)", "error": "\(error)"])
            return nil
        }
    }

    /// Where `sentinel` says the master named `master` is, on a connection of its own.
    private func askForMaster(_ sentinel: RedisURL, named master: String) throws(RedisError) -> (host: String, port: Int) {
        let connection = try RedisConnection(url: sentinel, timeout: connectTimeout)
        defer { connection.close() }
        connection.setReadTimeout(connectTimeout)
        let command = ["SENTINEL", "get-master-addr-by-name", master]
        let reply = try connection.command(command)
        switch reply {
        case .array(let parts) where parts.count == 2:
            if let host = parts[0].text, let port = parts[1].text.flatMap({ Int($0) }), !host.isEmpty, (1...65_535).contains(port) {
                return (host, port)
            }
        case .null:
            throw .commandFailed(command: command.joined(separator: " "), message: "the sentinel monitors no master named \(master)")
        case .error(let message):
            throw .commandFailed(command: command.joined(separator: " "), message: message)
        default:
            break
        }
        throw .unexpectedReply(command: command.joined(separator: " "), reply: reply.description)
    }

    /// Throws `notMaster` when the instance at `master` answers `ROLE` as anything but a master: a
    /// sentinel out of date (cut off from the others during a failover) or a failover under way
    /// names a replica. An instance that cannot be reached or refuses `ROLE` (an ACL user without
    /// it) is taken at the sentinel's word: the connections that go there find out for themselves.
    private func confirmMaster(_ master: (host: String, port: Int)) throws(RedisError) {
        // The role of the one it follows next (`move`); one refused leaves the last one's shown.
        let answer = role(of: master)
        switch answer {
        case .master, .unknown:
            state.withLock { $0.masterRole = answer.label }
        case .unreachable(let error):
            state.withLock { $0.masterRole = answer.label }
            logger.debug("the master the sentinel names could not be asked its role", metadata: ["address": "\(master.host):\(master.port)", "error": "\(error)"])
        case .other(let role):
            throw .notMaster(endpoint: "\(master.host):\(master.port)", role: role)
        }
    }

    /// What an instance answers to `ROLE`.
    private enum Role {
        case master
        /// `slave` or `sentinel`.
        case other(String)
        /// It could not be reached, or the connection failed.
        case unreachable(RedisError)
        /// It refused `ROLE` (an ACL user without it) or answered something else.
        case unknown

        /// As `RedisSentinelSnapshot.masterRole` shows it.
        var label: String {
            switch self {
            case .master: "master"
            case .other(let role): role == "slave" ? "replica" : role
            case .unreachable: "unreachable"
            case .unknown: "unknown"
            }
        }
    }

    /// Asks the instance at `instance` for its role, as the address's user, on a connection of its own.
    private func role(of instance: (host: String, port: Int)) -> Role {
        var connection: RedisConnection?
        defer { connection?.close() }
        return role(of: instance, on: &connection)
    }

    /// `role(of:)` on `connection`, opened (named `checkName`) when nil; a connection that fails is
    /// closed and set to nil.
    private func role(of instance: (host: String, port: Int), on connection: inout RedisConnection?) -> Role {
        var url = address.url
        url.host = instance.host
        url.port = instance.port
        let reply: RedisReply
        do {
            reply = try command(["ROLE"], to: url, named: checkName, on: &connection)
        } catch {
            return .unreachable(error)
        }
        guard case .array(let parts) = reply, let role = parts.first?.text else { return .unknown }
        return role == "master" ? .master : .other(role)
    }

    /// `command`'s reply on `connection`, opened to `url` (named `name`, the connect timeout its
    /// read timeout) when nil; a connection that fails is closed and set to nil.
    private func command(
        _ command: [String], to url: RedisURL, named name: String, on connection: inout RedisConnection?
    ) throws(RedisError) -> RedisReply {
        do {
            let open: RedisConnection
            if let connection {
                open = connection
            } else {
                open = try RedisConnection(url: url, timeout: connectTimeout, name: name)
                open.setReadTimeout(connectTimeout)
                connection = open
            }
            return try open.command(command)
        } catch {
            connection?.close()
            connection = nil
            throw error
        }
    }

    /// The new master a `+switch-master` announcement names, when it is about `master`.
    static func newMaster(in announcement: String, named master: String) -> (host: String, port: Int)? {
        let parts = announcement.split(separator: " ")
        guard parts.count == 5, parts[0] == master, let port = Int(parts[4]), (1...65_535).contains(port) else { return nil }
        return (String(parts[3]), port)
    }

    /// Moves the address to the master named `name` at `host:port`, keeping its user, password and database.
    private func move(to master: (host: String, port: Int), named name: String, switched: Bool) {
        var url = address.url
        url.host = master.host
        url.port = master.port
        let moved = address.move(to: url)
        state.withLock { snapshot in
            snapshot.master = url.endpoint
            if moved && switched { snapshot.switches += 1 }
        }
        if moved {
            logger.notice(
                switched ? "Redis failover: following the new master" : "Redis master located by the sentinels",
                metadata: ["master": "\(name)", "address": "\(url.endpoint)"])
        }
    }
}
