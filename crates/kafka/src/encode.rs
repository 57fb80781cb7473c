//! Pure event-to-bytes steps: the message value (plain protobuf or Confluent Schema
//! Registry framing), the key and the headers. No I/O, so every rule is unit-tested here.

use prost::Message;

use actionlog::proto::UserAction;

/// Header naming the value's encoding.
pub const HEADER_CONTENT_TYPE: &str = "content-type";
/// The value of [`HEADER_CONTENT_TYPE`].
pub const CONTENT_TYPE: &str = "application/x-protobuf";
/// Header carrying the fully-qualified protobuf message name
/// ([`USER_ACTION_FULL_NAME`](actionlog::proto::USER_ACTION_FULL_NAME)).
pub const HEADER_MESSAGE_NAME: &str = "protobuf-message";
/// W3C trace-context header, present when the action carries a trace and span id.
pub const HEADER_TRACEPARENT: &str = "traceparent";

/// Confluent wire format prefix: magic byte 0, the big-endian schema id, then the
/// message-index array. `UserAction` is the first message of its file, and the format
/// writes that common case `[0]` as the single byte 0.
pub fn confluent_framing(schema_id: u32, message_indexes: &[i32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(6);
    out.push(0);
    out.extend_from_slice(&schema_id.to_be_bytes());
    if message_indexes == [0] {
        out.push(0);
    } else {
        put_zigzag(&mut out, message_indexes.len() as i64);
        for &i in message_indexes {
            put_zigzag(&mut out, i64::from(i));
        }
    }
    out
}

fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let byte = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The message value: protobuf bytes, behind the Schema Registry prefix when `schema_id`
/// is set.
pub fn encode_value(action: &UserAction, schema_id: Option<u32>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value_into(action, schema_id, &mut out);
    out
}

/// [`encode_value`] into `out` (cleared first), so that a producer that copies each value
/// can reuse one buffer for a whole batch.
pub fn encode_value_into(action: &UserAction, schema_id: Option<u32>, out: &mut Vec<u8>) {
    out.clear();
    if let Some(id) = schema_id {
        out.extend_from_slice(&confluent_framing(id, &[0]));
    }
    out.reserve(action.encoded_len());
    // Encoding only fails when the buffer cannot grow, and a Vec always can.
    let _ = action.encode(out);
}

/// Decodes a value written by [`encode_value`], framed or not. A protobuf message never
/// starts with byte 0 (field number 0 does not exist), so a leading 0 means framing.
pub fn decode_value(value: &[u8]) -> Result<UserAction, prost::DecodeError> {
    let body = match value.first() {
        Some(0) if value.len() >= 6 => skip_indexes(&value[5..]),
        _ => value,
    };
    UserAction::decode(body)
}

fn skip_indexes(b: &[u8]) -> &[u8] {
    // The single byte 0 is the shorthand for [0]; otherwise a zigzag count then indexes.
    fn read(b: &[u8], pos: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        while let Some(&byte) = b.get(*pos) {
            *pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 || shift > 63 {
                break;
            }
        }
        v
    }
    let mut pos = 0;
    let zz = read(b, &mut pos);
    let count = (zz >> 1) as i64 ^ -((zz & 1) as i64);
    // Each index takes at least one byte: a count beyond what is left is corruption, and
    // looping over it would spin for up to 2^63 rounds (found by the kafka_value fuzz target).
    for _ in 0..count.max(0) {
        if pos >= b.len() {
            break;
        }
        read(b, &mut pos);
    }
    b.get(pos..).unwrap_or_default()
}

fn is_hex_id(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

/// The W3C `traceparent` of an action (`00-<trace>-<span>-01`), when its ids are valid
/// lowercase hex. The sampled flag is set: the span was recorded, or there would be no
/// action.
pub fn traceparent(action: &UserAction) -> Option<String> {
    let mut buf = [0; TRACEPARENT_LEN];
    write_traceparent(action, &mut buf).map(str::to_owned)
}

/// The length of a version-00 `traceparent`.
pub const TRACEPARENT_LEN: usize = 55;

/// [`traceparent`] written into `buf`, without an allocation per event.
pub fn write_traceparent<'b>(
    action: &UserAction,
    buf: &'b mut [u8; TRACEPARENT_LEN],
) -> Option<&'b str> {
    let trace = action.trace_id.as_deref()?;
    let span = action.span_id.as_deref()?;
    if !(is_hex_id(trace, 32) && is_hex_id(span, 16)) {
        return None;
    }
    buf[..3].copy_from_slice(b"00-");
    buf[3..35].copy_from_slice(trace.as_bytes());
    buf[35] = b'-';
    buf[36..52].copy_from_slice(span.as_bytes());
    buf[52..].copy_from_slice(b"-01");
    // Only ASCII was written (checked hex digits and the separators).
    std::str::from_utf8(buf).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action() -> UserAction {
        UserAction {
            user: Some("ada@example.com".into()),
            command: Some("get_table".into()),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            span_id: Some("00f067aa0ba902b7".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_framed_value_with_an_absurd_index_count_returns_instead_of_spinning() {
        // Schema id 7, then a zigzag count of 2^62 - 1 indexes with no bytes behind it.
        let value = [
            0, 0, 0, 0, 7, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ];
        let action = decode_value(&value).expect("an empty body is an empty message");
        assert_eq!(action, UserAction::default());
    }

    #[test]
    fn plain_value_is_the_protobuf_and_round_trips() {
        let a = action();
        let v = encode_value(&a, None);
        assert_eq!(v, a.encode_to_vec());
        assert_eq!(decode_value(&v).unwrap(), a);
    }

    #[test]
    fn schema_registry_framing() {
        let a = action();
        let v = encode_value(&a, Some(258));
        assert_eq!(&v[..6], &[0, 0, 0, 1, 2, 0]);
        assert_eq!(&v[6..], a.encode_to_vec().as_slice());
        assert_eq!(decode_value(&v).unwrap(), a);
        // Non-default index path [1, 2]: count 2 → 4, 1 → 2, 2 → 4 (zigzag).
        assert_eq!(confluent_framing(1, &[1, 2]), vec![0, 0, 0, 0, 1, 4, 2, 4]);
        let mut framed = confluent_framing(1, &[1, 2]);
        framed.extend(a.encode_to_vec());
        assert_eq!(decode_value(&framed).unwrap(), a);
    }

    #[test]
    fn a_reused_value_buffer_holds_only_the_latest_value() {
        let a = action();
        let mut buf = vec![9u8; 1000];
        encode_value_into(&a, Some(258), &mut buf);
        assert_eq!(buf, encode_value(&a, Some(258)));
        encode_value_into(&UserAction::default(), None, &mut buf);
        assert!(buf.is_empty());
    }

    #[test]
    fn traceparent_only_for_valid_ids() {
        assert_eq!(
            traceparent(&action()).as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        let mut a = action();
        a.span_id = None;
        assert_eq!(traceparent(&a), None);
        a.span_id = Some("0000000000000000".into());
        assert_eq!(traceparent(&a), None);
        a.span_id = Some("00F067AA0BA902B7".into());
        assert_eq!(traceparent(&a), None);
    }
}
