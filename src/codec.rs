//! Length-delimited `UserAction` streams: each record is a protobuf varint length followed
//! by that many bytes of an encoded `UserAction` (the framing of protobuf's
//! `writeDelimitedTo` / `parseDelimitedFrom`, which Java, Python and Go readers share).
//!
//! The reader never panics on bad input: a truncated or corrupt stream yields a
//! [`DecodeError`] that names the byte offset of the record it could not read.

use std::io::{self, BufRead, BufReader, Read};

use prost::Message;

use crate::proto::UserAction;

/// Records larger than this are taken as corruption rather than allocated (a flipped bit in
/// a length prefix must not make the reader ask for gigabytes).
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Appends `action` to `buf`, length-delimited.
pub fn encode_length_delimited(action: &UserAction, buf: &mut Vec<u8>) {
    // Encoding into a Vec only fails when capacity cannot grow, which aborts anyway.
    let _ = action.encode_length_delimited(buf);
}

/// What went wrong reading a length-delimited stream.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The stream ended inside a record.
    #[error(
        "truncated record at byte offset {offset}: {what} needs {needed} more byte(s) but the input ends after {available}"
    )]
    Truncated {
        /// Offset of the record's first byte (its length prefix).
        offset: u64,
        /// The part being read (`length prefix` or `message body`).
        what: &'static str,
        /// Bytes needed.
        needed: u64,
        /// Bytes that were there.
        available: u64,
    },
    /// The length prefix is not a valid varint or exceeds the record size limit.
    #[error("corrupt record at byte offset {offset}: {message}")]
    BadLength {
        /// Offset of the record's first byte.
        offset: u64,
        /// What is wrong with it.
        message: String,
    },
    /// The body is not a valid `UserAction`.
    #[error("corrupt record at byte offset {offset}: not a valid UserAction: {source}")]
    Corrupt {
        /// Offset of the record's first byte.
        offset: u64,
        /// The protobuf decoder's complaint.
        #[source]
        source: prost::DecodeError,
    },
    /// Reading the input failed.
    #[error("read error at byte offset {offset}: {source}")]
    Io {
        /// Offset at which reading failed.
        offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// Iterates over the `UserAction`s of a length-delimited stream. After the first error it
/// yields nothing more: the framing is lost, so later bytes cannot be trusted.
#[derive(Debug)]
pub struct LengthDelimitedReader<R> {
    inner: BufReader<R>,
    offset: u64,
    max_record_bytes: usize,
    failed: bool,
    buf: Vec<u8>,
}

impl<R: Read> LengthDelimitedReader<R> {
    /// Reads from `reader` with the default record size limit.
    pub fn new(reader: R) -> Self {
        Self {
            inner: BufReader::with_capacity(256 * 1024, reader),
            offset: 0,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            failed: false,
            buf: Vec::new(),
        }
    }

    /// Sets the largest record accepted, in bytes.
    pub fn with_max_record_bytes(mut self, max: usize) -> Self {
        self.max_record_bytes = max;
        self
    }

    /// Byte offset of the next record.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads the varint length prefix. `Ok(None)` at a clean end of input.
    fn read_len(&mut self) -> Result<Option<(u64, u64)>, DecodeError> {
        let start = self.offset;
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let byte = {
                let avail = self.inner.fill_buf().map_err(|source| DecodeError::Io {
                    offset: start + u64::from(i),
                    source,
                })?;
                match avail.first() {
                    Some(b) => *b,
                    None if i == 0 => return Ok(None),
                    None => {
                        return Err(DecodeError::Truncated {
                            offset: start,
                            what: "length prefix",
                            needed: 1,
                            available: u64::from(i),
                        });
                    }
                }
            };
            self.inner.consume(1);
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(Some((value, u64::from(i) + 1)));
            }
        }
        Err(DecodeError::BadLength {
            offset: start,
            message: "length prefix is longer than 10 bytes".into(),
        })
    }

    fn next_record(&mut self) -> Result<Option<UserAction>, DecodeError> {
        let start = self.offset;
        let Some((len, prefix_len)) = self.read_len()? else {
            return Ok(None);
        };
        if len > self.max_record_bytes as u64 {
            return Err(DecodeError::BadLength {
                offset: start,
                message: format!(
                    "declared length {len} exceeds the record size limit of {} bytes",
                    self.max_record_bytes
                ),
            });
        }
        let len = len as usize;
        self.buf.clear();
        let got = (&mut self.inner)
            .take(len as u64)
            .read_to_end(&mut self.buf)
            .map_err(|source| DecodeError::Io {
                offset: start + prefix_len,
                source,
            })?;
        if got < len {
            return Err(DecodeError::Truncated {
                offset: start,
                what: "message body",
                needed: (len - got) as u64,
                available: got as u64,
            });
        }
        let action =
            UserAction::decode(self.buf.as_slice()).map_err(|source| DecodeError::Corrupt {
                offset: start,
                source,
            })?;
        self.offset = start + prefix_len + len as u64;
        Ok(Some(action))
    }
}

impl<R: Read> Iterator for LengthDelimitedReader<R> {
    type Item = Result<UserAction, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_record() {
            Ok(Some(a)) => Some(Ok(a)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::LongString;

    fn sample(n: i64) -> UserAction {
        UserAction {
            command: Some("_get_table_metadata".into()),
            user: Some(format!("user{n}@example.com")),
            start_epoch_ms: Some(n),
            keyword_args_json: Some(LongString::new(r#"{"table_key":"hive://gold.core/rides"}"#)),
            ..Default::default()
        }
    }

    fn stream(n: i64) -> Vec<u8> {
        let mut buf = Vec::new();
        for i in 0..n {
            encode_length_delimited(&sample(i), &mut buf);
        }
        buf
    }

    #[test]
    fn reads_back_what_was_written() {
        let buf = stream(3);
        let got: Vec<_> = LengthDelimitedReader::new(buf.as_slice())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got, vec![sample(0), sample(1), sample(2)]);
    }

    #[test]
    fn empty_input_is_no_records() {
        assert_eq!(LengthDelimitedReader::new(&[][..]).count(), 0);
    }

    #[test]
    fn truncated_body_names_the_record_offset() {
        let buf = stream(2);
        let first_len = sample(0).encoded_len() + 1;
        let cut = &buf[..buf.len() - 5];
        let results: Vec<_> = LengthDelimitedReader::new(cut).collect();
        assert_eq!(results.len(), 2);
        assert!(results[0].is_ok());
        let err = results[1].as_ref().unwrap_err();
        assert!(
            matches!(err, DecodeError::Truncated { offset, needed: 5, .. } if *offset == first_len as u64),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("byte offset {first_len}"))
        );
    }

    #[test]
    fn truncated_length_prefix() {
        // 0x80 promises another varint byte that never comes.
        let err = LengthDelimitedReader::new(&[0x80u8][..])
            .next()
            .unwrap()
            .unwrap_err();
        assert!(matches!(
            err,
            DecodeError::Truncated {
                offset: 0,
                what: "length prefix",
                ..
            }
        ));
    }

    #[test]
    fn corrupt_body_is_an_error_not_a_panic() {
        // Length 2, then field 1 declared as a length-delimited string of 100 bytes.
        let err = LengthDelimitedReader::new(&[0x02u8, 0x0a, 0x64][..])
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(err, DecodeError::Corrupt { offset: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn absurd_length_is_rejected_without_allocating() {
        let err = LengthDelimitedReader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f][..])
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(err, DecodeError::BadLength { offset: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn stops_after_the_first_error() {
        let mut buf = vec![0x02u8, 0x0a, 0x64];
        buf.extend(stream(1));
        assert_eq!(LengthDelimitedReader::new(buf.as_slice()).count(), 1);
    }
}
