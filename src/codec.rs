//! Codecs: how a durable mailbox turns bodies into bytes for its log and
//! back.
//!
//! A [`Codec<T>`] encodes one body and decodes it again; its
//! [`name`](Codec::name) is stored with the log, so that a log written with
//! one codec (or for one body type) is refused, not misread, by another
//! (`OpenError::FormatMismatch`). Built in: [`Raw`] for `Vec<u8>` and
//! `String` bodies, and `Postcard` for any serde type under the `serde`
//! feature.

use thiserror::Error;

/// Why a body could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("codec {codec}: {reason}")]
pub struct CodecError {
    /// The codec's name.
    pub codec: String,
    /// What went wrong, in the codec's words.
    pub reason: String,
}

impl CodecError {
    /// An error of codec `codec`.
    pub fn new(codec: impl Into<String>, reason: impl Into<String>) -> CodecError {
        CodecError {
            codec: codec.into(),
            reason: reason.into(),
        }
    }
}

/// Turns bodies of type `T` into bytes and back, for a durable mailbox's
/// log.
///
/// `decode(encode(body))` must give back an equal body. A body that fails
/// to encode is refused by the send, message handed back; one that fails to
/// decode when the log is replayed makes opening fail
/// (`OpenError::Corrupt`), never a wrong message delivered.
///
/// # Examples
///
/// A codec for `u64` bodies, eight bytes little-endian:
///
/// ```
/// use postbox::{Codec, CodecError};
///
/// struct U64Le;
///
/// impl Codec<u64> for U64Le {
///     fn name(&self) -> String {
///         "u64-le".into()
///     }
///     fn encode(&self, body: &u64, out: &mut Vec<u8>) -> Result<(), CodecError> {
///         out.extend_from_slice(&body.to_le_bytes());
///         Ok(())
///     }
///     fn decode(&self, bytes: &[u8]) -> Result<u64, CodecError> {
///         let bytes: [u8; 8] = bytes
///             .try_into()
///             .map_err(|_| CodecError::new("u64-le", "not eight bytes"))?;
///         Ok(u64::from_le_bytes(bytes))
///     }
/// }
///
/// let mut out = Vec::new();
/// U64Le.encode(&7, &mut out).unwrap();
/// assert_eq!(U64Le.decode(&out).unwrap(), 7);
/// ```
pub trait Codec<T>: Send + Sync {
    /// The codec's name, with whatever tells its formats apart (a version,
    /// the body type): stored with the log and compared on every open.
    fn name(&self) -> String;

    /// Appends the body's bytes to `out`.
    fn encode(&self, body: &T, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// About how many bytes [`encode`](Codec::encode) appends for `body`,
    /// so that the log sizes a record's buffer once. A hint only: 0 (the
    /// default) when it is not known cheaply; a wrong hint costs a
    /// reallocation, never a wrong record.
    fn size_hint(&self, body: &T) -> usize {
        let _ = body;
        0
    }

    /// Reads a body back from the bytes `encode` wrote.
    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError>;
}

/// The codec of bodies that are bytes already: `Vec<u8>` as they are,
/// `String` as its UTF-8 bytes (checked when decoded).
///
/// # Examples
///
/// ```
/// use postbox::{Codec, Raw};
///
/// let mut out = Vec::new();
/// Raw.encode(&"résumé".to_string(), &mut out).unwrap();
/// let back: String = Raw.decode(&out).unwrap();
/// assert_eq!(back, "résumé");
/// assert!(<Raw as Codec<String>>::decode(&Raw, &[0xff]).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Raw;

impl Codec<Vec<u8>> for Raw {
    fn name(&self) -> String {
        "raw-bytes".into()
    }

    fn encode(&self, body: &Vec<u8>, out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.extend_from_slice(body);
        Ok(())
    }

    fn size_hint(&self, body: &Vec<u8>) -> usize {
        body.len()
    }

    fn decode(&self, bytes: &[u8]) -> Result<Vec<u8>, CodecError> {
        Ok(bytes.to_vec())
    }
}

impl Codec<String> for Raw {
    fn name(&self) -> String {
        "raw-utf8".into()
    }

    fn encode(&self, body: &String, out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.extend_from_slice(body.as_bytes());
        Ok(())
    }

    fn size_hint(&self, body: &String) -> usize {
        body.len()
    }

    fn decode(&self, bytes: &[u8]) -> Result<String, CodecError> {
        String::from_utf8(bytes.to_vec())
            .map_err(|err| CodecError::new("raw-utf8", err.to_string()))
    }
}

/// The codec of any serde type, in [postcard](https://docs.rs/postcard)'s
/// compact format (feature `serde`). Its name includes the body's type name,
/// so a log of one type is not opened as another.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "serde")] {
/// use postbox::{Codec, Postcard};
///
/// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
/// struct Job { user: u64, tier: String }
///
/// let job = Job { user: 7, tier: "paid".into() };
/// let mut out = Vec::new();
/// Postcard.encode(&job, &mut out).unwrap();
/// let back: Job = Postcard.decode(&out).unwrap();
/// assert_eq!(back, job);
/// # }
/// ```
#[cfg(feature = "serde")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Postcard;

#[cfg(feature = "serde")]
impl<T: serde::Serialize + serde::de::DeserializeOwned> Codec<T> for Postcard {
    fn name(&self) -> String {
        format!("postcard-1:{}", std::any::type_name::<T>())
    }

    fn encode(&self, body: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let bytes = postcard::to_allocvec(body)
            .map_err(|err| CodecError::new("postcard", err.to_string()))?;
        out.extend_from_slice(&bytes);
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        postcard::from_bytes(bytes).map_err(|err| CodecError::new("postcard", err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hint sizes a record's buffer: for raw bodies it is exact.
    #[test]
    fn raw_hints_the_bytes_it_writes() {
        let bytes = vec![7u8; 100];
        let text = String::from("profile request");
        let mut out = Vec::new();
        assert!(Raw.encode(&bytes, &mut out).is_ok());
        assert_eq!(Codec::<Vec<u8>>::size_hint(&Raw, &bytes), out.len());
        out.clear();
        assert!(Raw.encode(&text, &mut out).is_ok());
        assert_eq!(Codec::<String>::size_hint(&Raw, &text), out.len());
    }
}
