/// A value with a stable binary form, shared by the event codec and projection snapshots.
public protocol BinaryCodable {
    /// Appends the value's fields.
    func encode(to writer: inout BinaryWriter)
    /// Reads the value's fields, throwing on truncated or invalid input.
    init(from reader: inout BinaryReader) throws(CodecError)
}
