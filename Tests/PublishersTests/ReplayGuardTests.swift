import Testing

@testable import Publishers

/// How a reader tells a signed message's copy from a new message: by its signer's number, and its
/// time against the reading's.
struct ReplayGuardTests {
    private let now: Int64 = 1_765_000_000_000_000
    private let second: Int64 = 1_000_000

    private func stamp(_ number: UInt64, at offset: Int64 = 0) -> SharedMessageSigner.Stamp {
        SharedMessageSigner.Stamp(at: now + offset, number: number)
    }

    @Test func aMessageIsTakenOnceAndItsCopyRefused() {
        let replays = ReplayGuard()
        #expect(replays.admit(stamp(7), from: "a", at: now) == nil)
        #expect(replays.admit(stamp(7), from: "a", at: now + second) == .repeated(number: 7))
        #expect(replays.admit(stamp(8), from: "a", at: now + second) == nil)
        #expect(replays.admit(stamp(7), from: "b", at: now + second) == nil, "each process numbers its own")
    }

    /// A reader that cannot recall what it took before (pub/sub) refuses what was signed before it
    /// started, whatever its number; what was signed since is taken as by any guard.
    @Test func aReaderThatStartsRefusesWhatWasSignedBeforeIt() {
        let replays = ReplayGuard(notSignedBefore: now)
        #expect(replays.admit(stamp(7, at: -1_000), from: "a", at: now) == .signedBeforeStart(milliseconds: 1))
        #expect(replays.admit(stamp(7, at: -1), from: "a", at: now) == .signedBeforeStart(milliseconds: 1), "under a millisecond")
        #expect(replays.admit(stamp(8, at: -20 * second), from: "b", at: now) == .signedBeforeStart(milliseconds: 20_000))
        #expect(replays.admit(stamp(9, at: -40 * second), from: "a", at: now) == .stale(ageSeconds: 40), "too old in any case")
        #expect(replays.admit(stamp(7), from: "a", at: now) == nil, "its number was not taken: the refusals took nothing")
        #expect(replays.admit(stamp(7), from: "a", at: now) == .repeated(number: 7))
        #expect(ReplayGuard().admit(stamp(7, at: -1_000), from: "a", at: now) == nil, "a guard without a start takes it")
        #expect(ReplayGuard.Refusal.signedBeforeStart(milliseconds: 1_500).description.contains("signed 1500 ms before this reader started"))
    }

    @Test func messagesALittleOutOfTheirNumberingAreTakenEachOnce() {
        let replays = ReplayGuard()
        for number: UInt64 in [10, 14, 12, 11, 13] {
            #expect(replays.admit(stamp(number), from: "a", at: now) == nil, "\(number)")
        }
        for number: UInt64 in [10, 11, 12, 13, 14] {
            #expect(replays.admit(stamp(number), from: "a", at: now) == .repeated(number: number), "\(number)")
        }
        #expect(replays.admit(stamp(9), from: "a", at: now) == nil, "not taken yet, and within the window")
    }

    @Test func aNumberFurtherBehindThanTheWindowIsRefused() {
        let replays = ReplayGuard()
        let newest = 10 + ReplayGuard.windowSize
        #expect(replays.admit(stamp(newest), from: "a", at: now) == nil)
        #expect(replays.admit(stamp(newest - ReplayGuard.windowSize + 1), from: "a", at: now) == nil, "the window's oldest")
        #expect(replays.admit(stamp(newest - ReplayGuard.windowSize), from: "a", at: now) == .repeated(number: 10))
    }

    @Test func aJumpAheadForgetsOnlyWhatFellOutOfTheWindow() {
        let replays = ReplayGuard()
        #expect(replays.admit(stamp(1), from: "a", at: now) == nil)
        #expect(replays.admit(stamp(5), from: "a", at: now) == nil)
        // Bit 5 % window is reused by 5 + window: taken now, 5's copy then falls out of the window.
        #expect(replays.admit(stamp(5 + ReplayGuard.windowSize), from: "a", at: now) == nil)
        #expect(replays.admit(stamp(5 + ReplayGuard.windowSize), from: "a", at: now) != nil)
        #expect(replays.admit(stamp(4 + ReplayGuard.windowSize), from: "a", at: now) == nil, "a skipped number is free")
        #expect(replays.admit(stamp(5), from: "a", at: now) == .repeated(number: 5))
    }

    @Test func aMessageSignedOver30SecondsFromItsReadingIsRefusedEitherWay() {
        let replays = ReplayGuard()
        #expect(replays.admit(stamp(1, at: -30 * second), from: "a", at: now) == nil, "30 s is within")
        #expect(replays.admit(stamp(2, at: -31 * second), from: "a", at: now) == .stale(ageSeconds: 31))
        #expect(replays.admit(stamp(3, at: 31 * second), from: "a", at: now) == .stale(ageSeconds: -31))
        #expect(ReplayGuard.Refusal.stale(ageSeconds: -31).description.contains("after"))
        #expect(replays.admit(stamp(2), from: "a", at: now) == nil, "refused for its age, the number was not taken")
    }

    @Test func processesNotHeardFromForAMinuteAreForgotten() {
        let replays = ReplayGuard()
        #expect(replays.admit(stamp(1), from: "gone", at: now) == nil)
        // A sweep runs every 1,024 messages taken; by then the first process is over a minute quiet.
        let later = now + 61 * second
        for number in 1...UInt64(1_024) {
            #expect(replays.admit(SharedMessageSigner.Stamp(at: later, number: number), from: "busy", at: later) == nil)
        }
        #expect(replays.processes == 1)
    }
}
