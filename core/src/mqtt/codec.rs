//! The encodings every packet shares: remaining length, two-byte integers, length-prefixed
//! strings and binary data [MQTT-1.5].

use super::{DecodeError, EncodeError, PacketId};

/// The largest remaining length four bytes can say [MQTT-2.2.3].
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// How many bytes the remaining length `len` takes, 1 to 4.
pub fn remaining_length_len(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Reads a remaining length: `Ok(None)` when `buf` ends inside it, else the length and how many
/// bytes encoded it.
pub fn read_remaining_length(buf: &[u8]) -> Result<Option<(usize, usize)>, DecodeError> {
    let mut value = 0usize;
    for (i, &byte) in buf.iter().enumerate() {
        if i == 4 {
            // A fifth byte: four is the most the encoding allows.
            return Err(DecodeError::MalformedRemainingLength);
        }
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            // A last byte of 0 after the first adds nothing: the encoding in [MQTT-2.2.3] always
            // uses the fewest bytes, so a longer one is malformed (and would not round-trip).
            if byte == 0 && i > 0 {
                return Err(DecodeError::MalformedRemainingLength);
            }
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 4 {
        return Err(DecodeError::MalformedRemainingLength);
    }
    Ok(None)
}

/// Writes the first header byte and the remaining length.
pub fn write_fixed_header(
    first_byte: u8,
    remaining: usize,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if remaining > MAX_REMAINING_LENGTH {
        return Err(EncodeError::PacketTooLarge(remaining));
    }
    out.reserve(1 + remaining_length_len(remaining) + remaining);
    out.push(first_byte);
    let mut len = remaining;
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            return Ok(());
        }
    }
}

pub fn write_u16(value: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Writes a two-byte length and the bytes. The caller has checked the length with
/// [`check_field`].
pub fn write_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    write_u16(bytes.len() as u16, out);
    out.extend_from_slice(bytes);
}

/// A length-prefixed field's size on the wire, or an error naming the field when it is too long.
pub fn check_field(field: &'static str, bytes: &[u8]) -> Result<usize, EncodeError> {
    if bytes.len() > usize::from(u16::MAX) {
        return Err(EncodeError::FieldTooLong {
            field,
            len: bytes.len(),
        });
    }
    Ok(2 + bytes.len())
}

/// Reads the fields of one packet's variable header and payload.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::UnexpectedEnd);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn packet_id(&mut self) -> Result<PacketId, DecodeError> {
        PacketId::new(self.u16()?).ok_or(DecodeError::ZeroPacketId)
    }

    pub fn binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.u16()?);
        self.take(len)
    }

    /// A UTF-8 string: well-formed and without U+0000 [MQTT-1.5.3-1] [MQTT-1.5.3-2].
    pub fn string(&mut self) -> Result<String, DecodeError> {
        let bytes = self.binary()?;
        let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidString)?;
        if text.contains('\0') {
            return Err(DecodeError::InvalidString);
        }
        Ok(text.to_owned())
    }

    /// Whether every byte has been read (a list of filters or return codes ends here).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Everything left: a PUBLISH payload.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// Ends the packet: the remaining length must hold exactly its fields.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}
