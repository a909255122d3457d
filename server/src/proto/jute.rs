//! Jute binary primitives: a bounds-checked [`Reader`] over a byte slice and a [`Writer`] that
//! appends to a `Vec<u8>`.
//!
//! Every integer is big-endian. A `buffer` or `ustring` is an `i32` length followed by that many
//! bytes, and a `vector` is an `i32` element count followed by the elements; in both, the length
//! `-1` means null. The reader never panics and never allocates more than the input could hold:
//! a length is checked against the bytes that remain before any allocation, and a vector count is
//! checked against the smallest size its elements can have.

use std::fmt;

/// Why a decoder stopped.
///
/// `Incomplete` means the input ended before the value did: the frame decoder uses it to ask for
/// more bytes. Inside a complete frame it means the frame was too short for its record, which a
/// server treats like any other malformed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended before the value did.
    Incomplete,
    /// The bytes can never form a valid value, however many more arrive.
    Invalid(Invalid),
}

/// What made a value invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalid {
    /// A buffer, string or vector length below `-1`.
    NegativeLength(i32),
    /// A request or response for an op code this protocol does not carry from a client.
    UnsupportedOpCode(i32),
    /// A multi request or response held an operation type that is not allowed there.
    UnexpectedMultiOperation {
        /// The op code of the enclosing request (`multi` or `multiRead`).
        enclosing_op_code: i32,
        /// The type found in the `MultiHeader`.
        operation_type: i32,
    },
    /// A create inside a multi request carried flags that name no create mode.
    InvalidCreateFlags(i32),
    /// A multi response held a result type that no operation produces.
    UnknownMultiResultType(i32),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Incomplete => formatter.write_str("the input ended before the record did"),
            Self::Invalid(invalid) => write!(formatter, "invalid record: {invalid}"),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NegativeLength(length) => {
                write!(formatter, "length {length} is negative and not -1 (null)")
            }
            Self::UnsupportedOpCode(op_code) => {
                write!(formatter, "op code {op_code} is not a client request")
            }
            Self::UnexpectedMultiOperation {
                enclosing_op_code,
                operation_type,
            } => write!(
                formatter,
                "operation type {operation_type} is not allowed inside op code {enclosing_op_code}"
            ),
            Self::InvalidCreateFlags(flags) => {
                write!(formatter, "create flags {flags} name no create mode")
            }
            Self::UnknownMultiResultType(result_type) => {
                write!(formatter, "multi result type {result_type} is unknown")
            }
        }
    }
}

impl std::error::Error for DecodeError {}
impl std::error::Error for Invalid {}

impl From<Invalid> for DecodeError {
    fn from(invalid: Invalid) -> Self {
        Self::Invalid(invalid)
    }
}

/// A jute record: a fixed sequence of fields with no tags and no padding.
pub trait Record: Sized {
    /// The fewest bytes any encoding of this record occupies (every length-prefixed field empty
    /// or null). Vector decoding uses it to refuse element counts the input cannot hold.
    const MIN_ENCODED_LEN: usize;

    /// Reads one record from `reader`, leaving the reader just after it.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Appends the record's encoding to `writer`.
    fn encode(&self, writer: &mut Writer<'_>);

    /// Decodes one record from the start of `bytes`; bytes after it are ignored, as ZooKeeper
    /// ignores them.
    fn decode_from(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode(&mut Reader::new(bytes))
    }

    /// The record's encoding as a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(Self::MIN_ENCODED_LEN);
        self.encode(&mut Writer::new(&mut bytes));
        bytes
    }
}

/// Encoded size of an `int`.
pub const INT_LEN: usize = 4;
/// Encoded size of a `long`.
pub const LONG_LEN: usize = 8;
/// Encoded size of a `boolean`.
pub const BOOL_LEN: usize = 1;
/// Encoded size of an empty or null `buffer`, `ustring` or `vector` (just its length word).
pub const LENGTH_PREFIX_LEN: usize = 4;

/// Reads jute values from the front of a byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    remaining: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { remaining: bytes }
    }

    /// How many bytes have not been read yet.
    pub fn remaining_len(&self) -> usize {
        self.remaining.len()
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining.is_empty()
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.remaining
    }

    /// Takes the next `count` bytes.
    pub fn read_bytes(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        let (taken, rest) = self
            .remaining
            .split_at_checked(count)
            .ok_or(DecodeError::Incomplete)?;
        self.remaining = rest;
        Ok(taken)
    }

    fn read_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.read_bytes(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| DecodeError::Incomplete)
    }

    /// Reads an `int` (4 bytes, big-endian, signed).
    pub fn read_int(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.read_array()?))
    }

    /// Reads a `long` (8 bytes, big-endian, signed).
    pub fn read_long(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.read_array()?))
    }

    /// Reads a `boolean`: one byte, any non-zero value is true (as Java's `readBoolean`).
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        let [byte] = self.read_array::<1>()?;
        Ok(byte != 0)
    }

    /// Reads a length word: `None` for `-1` (null), an error for any other negative value or
    /// for a length longer than the rest of the input.
    fn read_length(&mut self) -> Result<Option<usize>, DecodeError> {
        let length = self.read_int()?;
        if length == -1 {
            return Ok(None);
        }
        let length_bytes = usize::try_from(length).map_err(|_| Invalid::NegativeLength(length))?;
        Ok(Some(length_bytes))
    }

    /// Reads a `buffer`; `None` is the null buffer (length `-1`).
    pub fn read_buffer(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        match self.read_length()? {
            None => Ok(None),
            Some(length) => Ok(Some(self.read_bytes(length)?.to_vec())),
        }
    }

    /// Reads a `buffer`, mapping null to an empty vector (for fields where ZooKeeper gives null
    /// no meaning of its own).
    pub fn read_buffer_or_empty(&mut self) -> Result<Vec<u8>, DecodeError> {
        Ok(self.read_buffer()?.unwrap_or_default())
    }

    /// Reads a `ustring`; `None` is the null string. Invalid UTF-8 is replaced by U+FFFD, as
    /// Java's `new String(bytes, UTF_8)` does, so that path validation later rejects it the same
    /// way ZooKeeper does.
    pub fn read_optional_string(&mut self) -> Result<Option<String>, DecodeError> {
        match self.read_length()? {
            None => Ok(None),
            Some(length) => {
                let bytes = self.read_bytes(length)?;
                Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
            }
        }
    }

    /// Reads a `ustring`, mapping null to the empty string.
    pub fn read_string(&mut self) -> Result<String, DecodeError> {
        Ok(self.read_optional_string()?.unwrap_or_default())
    }

    /// Reads a `vector` whose elements are decoded by `decode_element`, mapping null to an empty
    /// vector. `min_element_len` is the fewest bytes one element can take; a count that cannot
    /// fit in the rest of the input is refused before anything is allocated.
    pub fn read_vector_with<T>(
        &mut self,
        min_element_len: usize,
        mut decode_element: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let Some(count) = self.read_length()? else {
            return Ok(Vec::new());
        };
        let needed_len = count.saturating_mul(min_element_len.max(1));
        if needed_len > self.remaining.len() {
            return Err(DecodeError::Incomplete);
        }
        let mut elements = Vec::with_capacity(count);
        for _ in 0..count {
            elements.push(decode_element(self)?);
        }
        Ok(elements)
    }

    /// Reads a `vector<R>` of records.
    pub fn read_vector<R: Record>(&mut self) -> Result<Vec<R>, DecodeError> {
        self.read_vector_with(R::MIN_ENCODED_LEN, R::decode)
    }

    /// Reads a `vector<ustring>`; null elements become empty strings.
    pub fn read_string_vector(&mut self) -> Result<Vec<String>, DecodeError> {
        self.read_vector_with(LENGTH_PREFIX_LEN, Self::read_string)
    }

    /// Reads a record.
    pub fn read_record<R: Record>(&mut self) -> Result<R, DecodeError> {
        R::decode(self)
    }
}

/// Appends jute values to a byte vector.
///
/// # Panics
///
/// Writing a buffer, string or vector of more than `i32::MAX` bytes or elements panics: such a
/// value cannot be expressed in jute, and the server must have refused it long before (requests
/// are limited to `jute.maxbuffer`).
#[derive(Debug)]
pub struct Writer<'a> {
    bytes: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    /// A writer that appends to `bytes`.
    pub fn new(bytes: &'a mut Vec<u8>) -> Self {
        Self { bytes }
    }

    /// How many bytes the underlying vector holds (including those written before).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when the underlying vector is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Appends raw bytes with no length prefix.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// Writes an `int`.
    pub fn write_int(&mut self, value: i32) {
        self.write_bytes(&value.to_be_bytes());
    }

    /// Writes a `long`.
    pub fn write_long(&mut self, value: i64) {
        self.write_bytes(&value.to_be_bytes());
    }

    /// Writes a `boolean` as 1 or 0.
    pub fn write_bool(&mut self, value: bool) {
        self.write_bytes(&[u8::from(value)]);
    }

    fn write_length(&mut self, length: usize) {
        let length = i32::try_from(length).expect("jute lengths are at most i32::MAX");
        self.write_int(length);
    }

    /// Writes a `buffer`; `None` is written as the null buffer (length `-1`).
    pub fn write_buffer(&mut self, value: Option<&[u8]>) {
        match value {
            None => self.write_int(-1),
            Some(bytes) => {
                self.write_length(bytes.len());
                self.write_bytes(bytes);
            }
        }
    }

    /// Writes a `ustring`.
    pub fn write_string(&mut self, value: &str) {
        self.write_length(value.len());
        self.write_bytes(value.as_bytes());
    }

    /// Writes a `ustring`; `None` is written as the null string.
    pub fn write_optional_string(&mut self, value: Option<&str>) {
        match value {
            None => self.write_int(-1),
            Some(text) => self.write_string(text),
        }
    }

    /// Writes a `vector` with `encode_element` for each element.
    pub fn write_vector_with<T>(
        &mut self,
        elements: &[T],
        mut encode_element: impl FnMut(&mut Self, &T),
    ) {
        self.write_length(elements.len());
        for element in elements {
            encode_element(self, element);
        }
    }

    /// Writes a `vector<R>` of records.
    pub fn write_vector<R: Record>(&mut self, elements: &[R]) {
        self.write_vector_with(elements, |writer, element| element.encode(writer));
    }

    /// Writes a `vector<ustring>`.
    pub fn write_string_vector<S: AsRef<str>>(&mut self, elements: &[S]) {
        self.write_vector_with(elements, |writer, element| {
            writer.write_string(element.as_ref())
        });
    }

    /// Writes a record.
    pub fn write_record<R: Record>(&mut self, record: &R) {
        record.encode(self);
    }

    /// Reserves a frame length word and returns its position, for [`Writer::finish_frame`].
    pub fn start_frame(&mut self) -> usize {
        let position = self.bytes.len();
        self.write_int(0);
        position
    }

    /// Fills in the length word reserved by [`Writer::start_frame`] at `position` with the number
    /// of bytes written since.
    ///
    /// # Panics
    ///
    /// If `position` did not come from `start_frame` on this vector, or the frame body exceeds
    /// `i32::MAX` bytes.
    pub fn finish_frame(&mut self, position: usize) {
        let body_start = position
            .checked_add(INT_LEN)
            .expect("frame position from start_frame");
        let body_len = self
            .bytes
            .len()
            .checked_sub(body_start)
            .expect("frame position in range");
        let body_len = i32::try_from(body_len).expect("frame bodies are at most i32::MAX bytes");
        let length_word = self
            .bytes
            .get_mut(position..body_start)
            .expect("frame position from start_frame");
        length_word.copy_from_slice(&body_len.to_be_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_big_endian() {
        let mut bytes = Vec::new();
        let mut writer = Writer::new(&mut bytes);
        writer.write_int(0x0102_0304);
        writer.write_long(-2);
        writer.write_bool(true);
        assert_eq!(
            bytes,
            [1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 1]
        );
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.read_int(), Ok(0x0102_0304));
        assert_eq!(reader.read_long(), Ok(-2));
        assert_eq!(reader.read_bool(), Ok(true));
        assert!(reader.is_empty());
        assert_eq!(reader.read_bool(), Err(DecodeError::Incomplete));
    }

    #[test]
    fn any_non_zero_byte_is_true() {
        assert_eq!(Reader::new(&[0x7f]).read_bool(), Ok(true));
        assert_eq!(Reader::new(&[0]).read_bool(), Ok(false));
    }

    #[test]
    fn minus_one_is_null_and_other_negatives_are_invalid() {
        let null = (-1i32).to_be_bytes();
        assert_eq!(Reader::new(&null).read_buffer(), Ok(None));
        assert_eq!(Reader::new(&null).read_optional_string(), Ok(None));
        assert_eq!(Reader::new(&null).read_string(), Ok(String::new()));
        assert_eq!(Reader::new(&null).read_string_vector(), Ok(Vec::new()));
        let minus_two = (-2i32).to_be_bytes();
        let invalid = DecodeError::Invalid(Invalid::NegativeLength(-2));
        assert_eq!(Reader::new(&minus_two).read_buffer(), Err(invalid.clone()));
        assert_eq!(Reader::new(&minus_two).read_string_vector(), Err(invalid));
    }

    #[test]
    fn lengths_past_the_end_are_incomplete() {
        let bytes = [0, 0, 0, 5, b'a', b'b'];
        assert_eq!(
            Reader::new(&bytes).read_buffer(),
            Err(DecodeError::Incomplete)
        );
        let huge = i32::MAX.to_be_bytes();
        assert_eq!(
            Reader::new(&huge).read_string(),
            Err(DecodeError::Incomplete)
        );
        assert_eq!(
            Reader::new(&huge).read_string_vector(),
            Err(DecodeError::Incomplete)
        );
    }

    #[test]
    fn vector_count_is_checked_against_the_smallest_element() {
        // Three strings need at least 12 bytes; 11 follow.
        let mut bytes = vec![0, 0, 0, 3];
        bytes.extend_from_slice(&[0; 11]);
        assert_eq!(
            Reader::new(&bytes).read_string_vector(),
            Err(DecodeError::Incomplete)
        );
        bytes.push(0);
        assert_eq!(
            Reader::new(&bytes).read_string_vector().unwrap(),
            vec![""; 3]
        );
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let bytes = [0, 0, 0, 2, b'/', 0xff];
        assert_eq!(Reader::new(&bytes).read_string().unwrap(), "/\u{fffd}");
    }

    #[test]
    fn frames_get_their_length() {
        let mut bytes = vec![9];
        let mut writer = Writer::new(&mut bytes);
        let position = writer.start_frame();
        writer.write_int(7);
        writer.write_bool(false);
        writer.finish_frame(position);
        assert_eq!(bytes, [9, 0, 0, 0, 5, 0, 0, 0, 7, 0]);
    }
}
