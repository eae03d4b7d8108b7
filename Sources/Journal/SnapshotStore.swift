import Crypto

/// A stored snapshot's metadata.
public struct SnapshotInfo: Sendable, Hashable {
    /// The seq of the last event the snapshot includes.
    public var seq: UInt64
    /// When it was written, UTC microseconds.
    public var timestamp: Int64
    /// The serialization format of `data`, owned by the layer that wrote it.
    public var format: Int64
    /// Size of the serialized data in bytes.
    public var size: Int
}

/// Reads and writes the snapshots table; a snapshot's bytes are guarded by their SHA-256.
enum SnapshotStore {
    /// Stores a snapshot and prunes to the newest `retained`, in one transaction.
    /// - Throws: `JournalError.snapshotNotStored`; then nothing was changed.
    static func write(
        _ db: SQLiteConnection, seq: UInt64, timestamp: Int64, format: Int64, data: [UInt8], retained: Int
    ) throws(JournalError) {
        do {
            try db.execute("BEGIN IMMEDIATE")
        } catch {
            throw .snapshotNotStored(error)
        }
        do {
            let insert = try db.prepare(
                "INSERT OR REPLACE INTO snapshots(seq, ts, format, checksum, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                persistent: false)
            try insert.bind(1, Int64(seq))
            try insert.bind(2, timestamp)
            try insert.bind(3, format)
            try insert.bind(4, bytes: Array(SHA256.hash(data: data)))
            try insert.bind(5, bytes: data)
            try insert.run()
            let prune = try db.prepare(
                "DELETE FROM snapshots WHERE seq NOT IN (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT ?1)",
                persistent: false)
            try prune.bind(1, Int64(max(1, retained)))
            try prune.run()
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw .snapshotNotStored(error)
        }
    }

    /// The snapshots, newest first. Rows with a negative seq are left out: brokerd never writes one,
    /// and no state is at a negative seq, so it could never be loaded (`invalidSeqs` lists them).
    static func list(_ db: SQLiteConnection) throws(SQLiteError) -> [SnapshotInfo] {
        let query = try db.prepare(
            "SELECT seq, ts, format, length(data) FROM snapshots WHERE seq >= 0 ORDER BY seq DESC", persistent: false)
        var snapshots: [SnapshotInfo] = []
        while try query.step() {
            snapshots.append(SnapshotInfo(
                // Not negative: the WHERE clause leaves those out.
                seq: UInt64(bitPattern: query.int64(0)), timestamp: query.int64(1), format: query.int64(2), size: Int(query.int64(3))))
        }
        return snapshots
    }

    /// The seqs of snapshot rows that `list` leaves out, newest first.
    static func invalidSeqs(_ db: SQLiteConnection) throws(SQLiteError) -> [Int64] {
        let query = try db.prepare("SELECT seq FROM snapshots WHERE seq < 0 ORDER BY seq DESC", persistent: false)
        var seqs: [Int64] = []
        while try query.step() { seqs.append(query.int64(0)) }
        return seqs
    }

    static func read(_ db: SQLiteConnection, seq: UInt64) throws(JournalError) -> [UInt8] {
        let data: [UInt8]
        let checksum: [UInt8]
        do {
            let query = try db.prepare("SELECT checksum, data FROM snapshots WHERE seq = ?1", persistent: false)
            try query.bind(1, Int64(seq))
            guard try query.step() else { throw JournalError.noSuchSnapshot(seq: seq) }
            checksum = query.bytes(0)
            data = query.bytes(1)
        } catch let error as JournalError {
            throw error
        } catch {
            throw .readFailed(error as? SQLiteError ?? SQLiteError(code: -1, message: "\(error)"))
        }
        guard Array(SHA256.hash(data: data)) == checksum else { throw .corruptSnapshot(seq: seq) }
        return data
    }
}
