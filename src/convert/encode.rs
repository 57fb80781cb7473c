//! The wire encoder of [`convert_encoded`](super::convert_encoded): the converted fields
//! written as prost writes the `UserAction` they stand for, with no owned `UserAction`
//! in between.

use super::rules::{Fields, Text};
use super::view::AttrLike;
use crate::proto::UserAction;

/// Every field of `UserAction`, named without `..`: when the proto gains a field, this
/// stops compiling until the encoder below writes it (and the field list here says where).
#[allow(dead_code)]
fn every_field_is_encoded(a: UserAction) {
    let UserAction {
        host_name: _,         // 1
        start_epoch_ms: _,    // 2
        end_epoch_ms: _,      // 3
        pos_args_json: _,     // 4
        keyword_args_json: _, // 5
        output: _,            // 6
        error: _,             // 7
        user: _,              // 8
        command: _,           // 9
        trace_id: _,          // 10
        span_id: _,           // 11
    } = a;
}

impl<A: AttrLike> Fields<'_, A> {
    /// Encodes as prost encodes the `UserAction` of [`Fields::into_converted`]: fields in
    /// number order, each wrapper a nested message whose only field (number 1) is left
    /// out when it holds the default value.
    pub(super) fn encode_length_delimited(&self, buf: &mut Vec<u8>) {
        use prost::encoding::encoded_len_varint;
        fn s<'a, A: AttrLike>(t: &'a Option<Text<'_, A>>) -> Option<&'a str> {
            t.as_ref().map(Text::as_str)
        }
        let strings: [(u32, Option<&str>); 7] = [
            (1, s(&self.host_name)),
            (4, s(&self.pos_args_json)),
            (5, s(&self.keyword_args_json)),
            (6, s(&self.output)),
            (7, self.error.as_deref()),
            (8, s(&self.user)),
            (9, Some(self.command.as_str())),
        ];
        // Fields 10 and 11, written from the ids' bytes.
        let ids = [(10u32, &self.trace_id), (11, &self.span_id)];
        // Wrapper messages: `1: string` or `1: int64`, empty for the default value.
        let len_inner = |n: usize| {
            if n == 0 {
                0
            } else {
                1 + encoded_len_varint(n as u64) + n
            }
        };
        let str_inner = |v: &str| len_inner(v.len());
        let int_inner = |v: i64| {
            if v == 0 {
                0
            } else {
                1 + encoded_len_varint(v as u64)
            }
        };
        let field_len = |inner: usize| 1 + encoded_len_varint(inner as u64) + inner;
        let mut total = 0;
        for (_, v) in &strings {
            if let Some(v) = *v {
                total += field_len(str_inner(v));
            }
        }
        for (_, id) in ids {
            if let Some(id) = id {
                total += field_len(len_inner(id.hex_len()));
            }
        }
        for v in [self.start, self.end].into_iter().flatten() {
            total += field_len(int_inner(v));
        }
        buf.reserve(total + 10);
        put_varint(total as u64, buf);
        let put_str = |field: u32, v: &str, buf: &mut Vec<u8>| {
            // Field numbers 1..=11 with wire type 2 fit one key byte.
            buf.push(((field << 3) | 2) as u8);
            put_varint(str_inner(v) as u64, buf);
            if !v.is_empty() {
                buf.push((1 << 3) | 2);
                put_varint(v.len() as u64, buf);
                buf.extend_from_slice(v.as_bytes());
            }
        };
        let put_int = |field: u32, v: i64, buf: &mut Vec<u8>| {
            buf.push(((field << 3) | 2) as u8);
            put_varint(int_inner(v) as u64, buf);
            if v != 0 {
                buf.push(1 << 3);
                put_varint(v as u64, buf);
            }
        };
        if let Some(v) = strings[0].1 {
            put_str(1, v, buf);
        }
        if let Some(v) = self.start {
            put_int(2, v, buf);
        }
        if let Some(v) = self.end {
            put_int(3, v, buf);
        }
        for &(field, v) in &strings[1..] {
            if let Some(v) = v {
                put_str(field, v, buf);
            }
        }
        for (field, id) in ids {
            let Some(id) = id else { continue };
            // A checked id is never empty, so its wrapper always holds the string.
            let n = id.hex_len();
            buf.push(((field << 3) | 2) as u8);
            put_varint(len_inner(n) as u64, buf);
            buf.push((1 << 3) | 2);
            put_varint(n as u64, buf);
            id.push_hex(buf);
        }
    }
}

/// A varint, one byte without a call for the values below 128 that nearly every length in
/// an action is; prost's encoder otherwise.
#[inline(always)]
fn put_varint(v: u64, buf: &mut Vec<u8>) {
    if v < 0x80 {
        buf.push(v as u8);
    } else {
        prost::encoding::encode_varint(v, buf);
    }
}
