import Foundation

/// Waits until at least `room` seconds are left in the current minute: a test whose bars the broker
/// builds from ticks would otherwise see them close (and a close pushed) when a minute boundary
/// passes mid-test.
func waitForRoomInTheMinute(_ room: Int = 20) async throws {
    let second = Int(Date().timeIntervalSince1970) % 60
    if second > 60 - room { try await Task.sleep(for: .seconds(61 - second)) }
}
