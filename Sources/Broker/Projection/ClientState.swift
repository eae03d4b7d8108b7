/// Whether a session currently has a live connection.
public enum ClientState: Sendable, Hashable {
    /// Connected now.
    case connected
    /// Disconnected at `since`; resumable until `resumeDeadline` (UTC microseconds).
    case gone(since: Int64, reason: DisconnectReason, resumeDeadline: Int64)
}
