extension SQLiteStatement {
    /// The seq in `column`. brokerd writes seqs as non-negative integers, so anything else was written
    /// behind its back; converting it blindly would crash.
    /// - Parameter describe: names the value for the error, given its text (`{ "a row with seq \($0)" }`).
    /// - Throws: `JournalError.malformed` for a negative or non-integer value.
    func seq(_ column: Int32, describedAs describe: (String) -> String) throws(JournalError) -> UInt64 {
        guard isInteger(column) else {
            throw .malformed(reason: describe(isNull(column) ? "NULL" : "'\(string(column) ?? "")'"))
        }
        let value = int64(column)
        guard let seq = UInt64(exactly: value) else { throw .malformed(reason: describe(String(value))) }
        return seq
    }
}
