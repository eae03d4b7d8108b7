import Broker
import Testing

@testable import Publishers

/// Following a failover: a real master, its replica and a sentinel monitoring them; the watcher
/// moves a `RedisAddress`, and a tick source reading through it, to whichever the sentinel says
/// is the master.
@Suite(.serialized) struct RedisSentinelWatcherTests {
    private static let fastBackoff = ReconnectBackoff(initial: .milliseconds(20), maximum: .milliseconds(200))

    @Test func anAnnouncementNamesTheNewMasterOfItsNameOnly() {
        let text = "brokermaster 127.0.0.1 6379 10.0.0.2 6380"
        #expect(RedisSentinelWatcher.newMaster(in: text, named: "brokermaster").map { "\($0.host):\($0.port)" } == "10.0.0.2:6380")
        #expect(RedisSentinelWatcher.newMaster(in: text, named: "other") == nil)
        #expect(RedisSentinelWatcher.newMaster(in: "brokermaster 127.0.0.1 6379 10.0.0.2", named: "brokermaster") == nil)
        #expect(RedisSentinelWatcher.newMaster(in: "brokermaster 127.0.0.1 6379 10.0.0.2 0", named: "brokermaster") == nil)
        #expect(RedisSentinelWatcher.newMaster(in: "brokermaster a b ::1 70000", named: "brokermaster") == nil)
    }

    @Test func theSourceFollowsTheMasterThroughAFailover() async throws {
        let master = try await RedisServer()
        let replica = try await master.replica()
        let sentinel = try await RedisSentinel(monitoring: master)
        // Where the broker was told Redis is before it asked a sentinel: nowhere; and a password-free database 2.
        let address = RedisAddress(RedisURL(host: "127.0.0.1", port: try RedisServer.freePort(), database: 2))
        let watcher = RedisSentinelWatcher(
            sentinels: [RedisURL(host: "127.0.0.1", port: try RedisServer.freePort()), sentinel.url], master: sentinel.name,
            address: address, backoff: Self.fastBackoff)
        await watcher.start()
        #expect(address.url == RedisURL(host: "127.0.0.1", port: master.port, database: 2))
        #expect(watcher.snapshot.master == "127.0.0.1:\(master.port)" && watcher.snapshot.state == .connected)
        #expect(watcher.snapshot.switches == 0)

        let recorder = BatchRecorder()
        let source = try RedisTickSource(
            configuration: RedisTickSourceConfiguration(url: address.url, address: address, backoff: Self.fastBackoff),
            deliver: recorder.deliver)
        source.start()
        try await eventually("the source to subscribe") { source.snapshot.state == .connected }
        var database2 = RedisURL(host: "127.0.0.1", port: master.port, database: 2)
        #expect(try RedisCommander(url: database2).publish(#"{"code":"600519","price":1850}"#) == 1)
        try await eventually("the master's tick") { recorder.ticks.count == 1 }

        try await eventually("the sentinel to know the replica", within: .seconds(40)) { try sentinel.knowsAHealthyReplica() }
        try sentinel.failover()
        try await eventually("the sentinel to switch the master", within: .seconds(60)) { try sentinel.switchedTheMaster() }
        try await eventually("the watcher to follow the failover") { address.url.port == replica.port }
        #expect(watcher.snapshot.switches == 1 && watcher.snapshot.master == "127.0.0.1:\(replica.port)")
        database2.port = replica.port
        let promoted = try RedisCommander(url: database2)
        try await eventually("the source on the new master") { try promoted.subscribers() == 1 }
        #expect(try promoted.publish(#"{"code":"000001","price":12}"#) >= 1)
        try await eventually("the new master's tick") { recorder.ticks.map(\.code) == ["600519", "000001"] }

        try await finishes("the source's stop()") { await source.stop() }
        try await finishes("the watcher's stop()") { await watcher.stop() }
        #expect(watcher.snapshot.state == .stopped)
    }

    @Test func givenOtherSentinelsItAsksThemAndMovesTheAddressToTheirMaster() async throws {
        let (first, second) = (try await RedisServer(), try await RedisServer())
        let firstSentinel = try await RedisSentinel(monitoring: first)
        let secondSentinel = try await RedisSentinel(monitoring: second, name: "othermaster")
        let address = RedisAddress(RedisURL(host: "127.0.0.1", port: try RedisServer.freePort(), database: 3, password: "pw"))
        let watcher = RedisSentinelWatcher(
            sentinels: [firstSentinel.url], master: firstSentinel.name, address: address, backoff: Self.fastBackoff)
        await watcher.start()
        #expect(address.url.port == first.port)
        #expect(!watcher.watch(sentinels: [firstSentinel.url], master: firstSentinel.name), "the same: nothing to do")
        #expect(!watcher.watch(sentinels: [], master: "othermaster"), "no sentinels: ignored")
        #expect(try firstSentinel.subscribers() == 1)

        #expect(watcher.watch(sentinels: [secondSentinel.url], master: secondSentinel.name))
        #expect(watcher.sentinels == [secondSentinel.url] && watcher.master == "othermaster")
        try await eventually("the address to move to the other master") { address.url.port == second.port }
        #expect(address.url == RedisURL(host: "127.0.0.1", port: second.port, database: 3, password: "pw"), "user, password and database kept")
        let snapshot = watcher.snapshot
        #expect(snapshot.sentinel == secondSentinel.url.endpoint && snapshot.master == "127.0.0.1:\(second.port)", "\(snapshot)")
        #expect(snapshot.switches == 0 && snapshot.lastError == nil, "not a failover, not a failure: \(snapshot)")
        try await eventually("the watcher to listen to the other sentinel") { watcher.snapshot.state == .connected }
        // It listens there, and no longer to the first.
        try await eventually("the first sentinel's subscriber to leave") { try firstSentinel.subscribers() == 0 }
        #expect(try secondSentinel.subscribers() == 1)
        try await finishes("the watcher's stop()") { await watcher.stop() }
    }

    @Test func givenSentinelsDuringABackoffItAsksThemAtOnce() async throws {
        let master = try await RedisServer()
        let sentinel = try await RedisSentinel(monitoring: master)
        let address = RedisAddress(RedisURL(host: "127.0.0.1", port: try RedisServer.freePort()))
        let watcher = RedisSentinelWatcher(
            sentinels: [RedisURL(host: "127.0.0.1", port: try RedisServer.freePort())], master: "brokermaster", address: address,
            backoff: ReconnectBackoff(initial: .seconds(60), maximum: .seconds(60)))
        await watcher.start()
        #expect(watcher.snapshot.state == .backingOff)
        watcher.watch(sentinels: [sentinel.url], master: sentinel.name)
        // Well within the minute the backoff would have slept.
        try await eventually("the address to move to the master", within: .seconds(20)) { address.url.port == master.port }
        try await eventually("the watcher to listen") { watcher.snapshot.state == .connected }
        try await finishes("the watcher's stop()") { await watcher.stop() }
    }

    @Test func aMasterTheSentinelNamesThatSaysItIsAReplicaIsNotFollowed() async throws {
        let (master, other) = (try await RedisServer(), try await RedisServer())
        let sentinel = try await RedisSentinel(monitoring: master)
        // The master is made a replica behind the sentinel's back: the sentinel still names it.
        let commander = try RedisCommander(url: RedisURL(host: "127.0.0.1", port: master.port))
        #expect(try commander.command("REPLICAOF", "127.0.0.1", "\(other.port)") == .status("OK"))
        let address = RedisAddress(RedisURL(host: "127.0.0.1", port: try RedisServer.freePort()))
        let watcher = RedisSentinelWatcher(sentinels: [sentinel.url], master: sentinel.name, address: address, backoff: Self.fastBackoff)
        await watcher.start()
        #expect(address.moves == 0)
        #expect(watcher.snapshot.lastError?.contains("it says it is a replica") == true, "\(watcher.snapshot)")
        #expect(watcher.snapshot.state != .connected)

        // A master again: the next attempt follows it.
        #expect(try commander.command("REPLICAOF", "NO", "ONE") == .status("OK"))
        try await eventually("the address to move to the master") { address.url.port == master.port }
        try await eventually("the watcher to listen") { watcher.snapshot.state == .connected }
        try await finishes("the watcher's stop()") { await watcher.stop() }
    }

    /// A watcher of `sentinels` (their master's name is the first's) that checks the master every
    /// 200 ms, started, with the address it moves (nowhere before it asked them).
    private static func startChecking(
        _ sentinels: [RedisSentinel], database: Int = 0
    ) async throws -> (RedisAddress, RedisSentinelWatcher) {
        let address = RedisAddress(RedisURL(host: "127.0.0.1", port: try RedisServer.freePort(), database: database))
        let watcher = RedisSentinelWatcher(
            sentinels: sentinels.map(\.url), master: sentinels[0].name, address: address, backoff: fastBackoff,
            healthCheckInterval: .milliseconds(200))
        await watcher.start()
        return (address, watcher)
    }

    /// The sentinel listened to misses a failover (here it never learns of it: the master is made
    /// a replica behind its back, so it announces nothing and goes on naming it); another sentinel
    /// names the master that says it is one. The watcher's check of the master's role finds out.
    @Test func aMasterThatBecameAReplicaUnannouncedIsLeftForTheMasterAnotherSentinelNames() async throws {
        let (master, other) = (try await RedisServer(), try await RedisServer())
        let (stale, knowing) = (try await RedisSentinel(monitoring: master), try await RedisSentinel(monitoring: other))
        let (address, watcher) = try await Self.startChecking([stale, knowing], database: 1)
        #expect(address.url.port == master.port && watcher.snapshot.sentinel == stale.url.endpoint)
        #expect(watcher.snapshot.masterRole == "master")
        // A master that is the master is left alone, check after check, all of them on one connection.
        let commander = try RedisCommander(url: RedisURL(host: "127.0.0.1", port: master.port))
        try await eventually("the first check") { try commander.clientIDsByName()["brokerd:sentinel-check"] != nil }
        let connections = try commander.connectionsReceived()
        try await Task.sleep(for: .seconds(1))
        let checked = watcher.snapshot
        #expect(address.moves == 1 && checked.switches == 0 && checked.sentinel == stale.url.endpoint, "\(checked)")
        #expect(try commander.connectionsReceived() == connections, "five checks or so, no new connection")

        #expect(try commander.command("REPLICAOF", "127.0.0.1", "\(other.port)") == .status("OK"))
        try await eventually("the address to move to the master the other sentinel names") { address.url.port == other.port }
        #expect(address.url == RedisURL(host: "127.0.0.1", port: other.port, database: 1))
        let moved = watcher.snapshot
        #expect(moved.switches == 1 && moved.master == "127.0.0.1:\(other.port)" && moved.masterRole == "master", "\(moved)")
        try await eventually("the watcher to listen to the sentinel that knew") {
            watcher.snapshot.sentinel == knowing.url.endpoint && watcher.snapshot.state == .connected
        }
        try await eventually("the stale sentinel's subscriber to leave") { try stale.subscribers() == 0 }
        #expect(try knowing.subscribers() == 1)
        #expect(watcher.snapshot.switches == 1, "counted once: \(watcher.snapshot)")
        try await finishes("the watcher's stop()") { await watcher.stop() }
    }

    /// The master is gone, and the sentinel listened to still names it: another sentinel's master,
    /// one that says it is the master, is followed.
    @Test func aMasterThatIsGoneIsLeftForTheMasterAnotherSentinelNames() async throws {
        let (master, other) = (try await RedisServer(), try await RedisServer())
        let (stale, knowing) = (try await RedisSentinel(monitoring: master), try await RedisSentinel(monitoring: other))
        let (address, watcher) = try await Self.startChecking([stale, knowing])
        #expect(address.url.port == master.port)
        master.kill()
        try await eventually("the address to move to the other sentinel's master") { address.url.port == other.port }
        try await eventually("the watcher to listen to the sentinel that knew") {
            watcher.snapshot.sentinel == knowing.url.endpoint && watcher.snapshot.state == .connected
        }
        try await finishes("the watcher's stop()") { await watcher.stop() }
    }

    /// While the master cannot be reached and every sentinel still names it (a failover not done
    /// yet), the address stays: nothing else says it is the master.
    @Test func aMasterThatIsGoneWithNoOtherNamedStays() async throws {
        let (master, replica) = (try await RedisServer(), try await RedisServer())
        let sentinel = try await RedisSentinel(monitoring: master)
        // Another sentinel that names a replica (it was cut off during an earlier failover).
        let commander = try RedisCommander(url: RedisURL(host: "127.0.0.1", port: replica.port))
        let outdated = try await RedisSentinel(monitoring: replica)
        #expect(try commander.command("REPLICAOF", "127.0.0.1", "\(master.port)") == .status("OK"))
        let (address, watcher) = try await Self.startChecking([sentinel, outdated])
        #expect(address.url.port == master.port)
        master.kill()
        try await Task.sleep(for: .seconds(2))
        #expect(address.url.port == master.port && address.moves == 1 && watcher.snapshot.switches == 0, "\(watcher.snapshot)")
        #expect(watcher.snapshot.masterRole == "unreachable", "shown, for an operator to see the failover under way")
        try await finishes("the watcher's stop()") { await watcher.stop() }
    }

    /// A split: the sentinel listened to (on the minority side) names the old master, which still
    /// says it is the master; another names the replica the majority promoted, in a newer
    /// configuration (a higher config-epoch). Here the two sentinels never meet: each starts with
    /// its own configuration.
    @Test func aSentinelOnTheMinoritySideIsLeftForTheNewestConfiguration() async throws {
        let (old, promoted) = (try await RedisServer(), try await RedisServer())
        let minority = try await RedisSentinel(monitoring: old)
        let majority = try await RedisSentinel(monitoring: promoted, configEpoch: 3)
        let (address, watcher) = try await Self.startChecking([minority, majority], database: 4)
        #expect(address.url.port == old.port && watcher.snapshot.sentinel == minority.url.endpoint)

        try await eventually("the address to move to the newest configuration's master") { address.url.port == promoted.port }
        #expect(address.url == RedisURL(host: "127.0.0.1", port: promoted.port, database: 4))
        try await eventually("the watcher to listen to the sentinel of the newest configuration") {
            watcher.snapshot.sentinel == majority.url.endpoint && watcher.snapshot.state == .connected
        }
        try await eventually("the minority sentinel's subscriber to leave") { try minority.subscribers() == 0 }
        // Check after check it stays, asking each sentinel on the connection it keeps there.
        let asked = try majority.commander()
        try await eventually("a check to ask the majority sentinel") { try asked.clientIDsByName()["brokerd:sentinel-ask"] != nil }
        let connections = try asked.connectionsReceived()
        try await Task.sleep(for: .seconds(1))
        let settled = watcher.snapshot
        #expect(address.moves == 2 && settled.switches == 1 && settled.master == "127.0.0.1:\(promoted.port)", "\(settled)")
        #expect(settled.configEpoch == 3 && settled.masterRole == "master", "\(settled)")
        #expect(try asked.connectionsReceived() == connections, "five checks or so, no new connection")
        try await finishes("the watcher's stop()") { await watcher.stop() }
    }

    /// The newest configuration names a master that cannot be reached (a failover the node cannot
    /// see the end of): the node stays where it is until that master answers as the master.
    @Test func aNewerConfigurationsMasterIsFollowedOnlyOnceItAnswersAsTheMaster() async throws {
        let (old, promoted) = (try await RedisServer(), try await RedisServer())
        let minority = try await RedisSentinel(monitoring: old)
        let majority = try await RedisSentinel(monitoring: promoted, configEpoch: 3)
        promoted.kill()
        let (address, watcher) = try await Self.startChecking([minority, majority])
        #expect(address.url.port == old.port)
        try await eventually("a check to read the configurations") { watcher.snapshot.configEpoch != nil }
        try await Task.sleep(for: .seconds(1))
        let stayed = watcher.snapshot
        #expect(address.moves == 1 && stayed.switches == 0 && stayed.configEpoch == 0 && stayed.sentinel == minority.url.endpoint, "\(stayed)")

        try await promoted.start()
        try await eventually("the address to move to the newest configuration's master") { address.url.port == promoted.port }
        #expect(watcher.snapshot.switches == 1 && watcher.snapshot.configEpoch == 3, "\(watcher.snapshot)")
        try await finishes("the watcher's stop()") { await watcher.stop() }
    }

    /// A sentinel that takes the connection and answers nothing costs each check the connect
    /// timeout: it is left out of the next five checks after each failure.
    @Test func aSentinelThatDoesNotAnswerIsAskedAgainOnlyAfterFiveChecks() async throws {
        let master = try await RedisServer()
        let sentinel = try await RedisSentinel(monitoring: master)
        let hanging = try BlackholeListener()
        let address = RedisAddress(RedisURL(host: "127.0.0.1", port: try RedisServer.freePort()))
        let watcher = RedisSentinelWatcher(
            sentinels: [sentinel.url, RedisURL(host: "127.0.0.1", port: hanging.port)], master: sentinel.name, address: address,
            connectTimeout: .milliseconds(300), backoff: Self.fastBackoff, healthCheckInterval: .milliseconds(200))
        await watcher.start()
        #expect(address.url.port == master.port)
        try await eventually("a check to try the sentinel that does not answer") { hanging.connectionsSoFar() >= 1 }
        let first = hanging.connectionsSoFar()
        // Asked at every check, 2.5 s of checks (200 ms apart after each attempt's 300 ms) would
        // try it three to five times; left out of five checks after each failure, the next try
        // comes 1.5 s after the last at the earliest: once at most.
        try await Task.sleep(for: .milliseconds(2500))
        let more = hanging.connectionsSoFar() - first
        #expect(more <= 1, "tried \(more) more times in 2.5 s")
        #expect(address.moves == 1 && watcher.snapshot.state == .connected && watcher.snapshot.configEpoch == 0, "\(watcher.snapshot)")
        try await finishes("the watcher's stop()") { await watcher.stop() }
    }

    @Test func aSentinelLeftOutIsAskedAgainAfterFiveChecks() {
        var asking = RedisSentinelWatcher.Asking(sentinels: 2)
        #expect(asking.isDue(0) && asking.isDue(1))
        asking.skip(1)
        let due = (0..<7).map { _ in (asking.isDue(0), asking.isDue(1)) }
        #expect(due.map(\.0) == Array(repeating: true, count: 7))
        #expect(due.map(\.1) == [false, false, false, false, false, true, true])
    }

    @Test func aSentinelsConfigurationIsReadFromItsFields() {
        func reply(_ fields: [String]) -> RedisReply { .array(fields.map { .bulk(Array($0.utf8)) }) }
        let full = ["name", "brokermaster", "ip", "10.0.0.2", "port", "6380", "flags", "master", "config-epoch", "7", "quorum", "2"]
        #expect(RedisSentinelWatcher.Configuration(reply(full)) == .init(host: "10.0.0.2", port: 6380, epoch: 7))
        #expect(RedisSentinelWatcher.Configuration(reply(Array(full.prefix(8)))) == nil, "no config-epoch")
        #expect(RedisSentinelWatcher.Configuration(reply(Array(full.dropLast()))) == nil, "a name without its value")
        #expect(RedisSentinelWatcher.Configuration(reply(full.map { $0 == "6380" ? "0" : $0 })) == nil, "no port")
        #expect(RedisSentinelWatcher.Configuration(reply(full.map { $0 == "7" ? "-1" : $0 })) == nil, "an epoch is not negative")
        #expect(RedisSentinelWatcher.Configuration(.error("ERR No such master with that name")) == nil)
    }

    @Test func aMasterThatRefusesROLEIsTakenAtTheSentinelsWord() async throws {
        let master = try await RedisServer()
        let sentinel = try await RedisSentinel(monitoring: master)
        // The broker's user may do everything but ROLE.
        let commander = try RedisCommander(url: RedisURL(host: "127.0.0.1", port: master.port))
        #expect(try commander.command("ACL", "SETUSER", "broker", "on", ">pw", "~*", "&*", "+@all", "-role") == .status("OK"))
        let address = RedisAddress(RedisURL(host: "127.0.0.1", port: try RedisServer.freePort(), user: "broker", password: "pw"))
        let watcher = RedisSentinelWatcher(sentinels: [sentinel.url], master: sentinel.name, address: address, backoff: Self.fastBackoff)
        await watcher.start()
        #expect(address.url.port == master.port && watcher.snapshot.state == .connected, "\(watcher.snapshot)")
        #expect(watcher.snapshot.masterRole == "unknown")
        try await finishes("the watcher's stop()") { await watcher.stop() }
    }

    @Test func withNoSentinelAnsweringStartReturnsAndTheAddressStays() async throws {
        let address = RedisAddress(RedisURL(host: "127.0.0.1", port: 6390))
        let watcher = RedisSentinelWatcher(
            sentinels: [RedisURL(host: "127.0.0.1", port: try RedisServer.freePort()), RedisURL(host: "127.0.0.1", port: try RedisServer.freePort())],
            master: "brokermaster", address: address, backoff: ReconnectBackoff(initial: .seconds(60), maximum: .seconds(60)))
        try await finishes("start()") { await watcher.start() }
        #expect(address.moves == 0)
        #expect(watcher.snapshot.state == .backingOff && watcher.snapshot.lastError != nil, "\(watcher.snapshot)")
        try await finishes("stop() during the backoff") { await watcher.stop() }
    }

    @Test func aSentinelThatMonitorsNoSuchMasterIsAFailure() async throws {
        let master = try await RedisServer()
        let sentinel = try await RedisSentinel(monitoring: master)
        let address = RedisAddress(RedisURL(host: "127.0.0.1", port: master.port))
        let watcher = RedisSentinelWatcher(
            sentinels: [sentinel.url], master: "unknown", address: address,
            backoff: ReconnectBackoff(initial: .seconds(60), maximum: .seconds(60)))
        await watcher.start()
        #expect(address.moves == 0)
        #expect(watcher.snapshot.lastError?.contains("monitors no master named unknown") == true, "\(watcher.snapshot)")
        await watcher.stop()
    }
}
