//! Length-prefixed MessagePack frames over any async byte stream.

use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::budget::{ByteBudget, Lease};

/// Hard upper bound on one control frame (bulk block bytes are streamed outside frames).
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Hard upper bound on one streamed body (one block).
pub const MAX_BODY_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announced more bytes than the limit allows.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The stream ended before a whole frame arrived.
    #[error("stream ended inside a frame (got {got} of {expected} bytes)")]
    Truncated {
        /// Bytes received.
        got: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// The stream ended cleanly before any byte of a frame.
    #[error("stream closed before a frame")]
    Closed,
    /// The payload is not a valid MessagePack encoding of the expected type.
    #[error("malformed frame payload: {0}")]
    Decode(String),
    /// The value could not be encoded.
    #[error("cannot encode frame: {0}")]
    Encode(String),
    /// The underlying stream failed.
    #[error("stream error: {0}")]
    Io(#[from] std::io::Error),
}

/// Encodes `value` as one frame and writes it.
pub async fn write_frame<W, T>(writer: &mut W, value: &T) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize + ?Sized,
{
    let payload = encode(value)?;
    let mut buf = Vec::with_capacity(4 + payload.len());
    buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    buf.extend_from_slice(&payload);
    writer.write_all(&buf).await?;
    Ok(())
}

/// Encodes a value as a frame payload (without the length prefix).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, FrameError> {
    let payload = rmp_serde::to_vec_named(value).map_err(|e| FrameError::Encode(e.to_string()))?;
    if payload.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge {
            len: payload.len(),
            max: MAX_FRAME_BYTES,
        });
    }
    Ok(payload)
}

/// Reads one frame of at most `max_bytes` payload bytes and decodes it.
///
/// The announced length is never reserved: the payload is read in chunks of at most
/// [`FRAME_CHUNK_BYTES`], so memory grows with the bytes that actually arrived.
pub async fn read_frame<R, T>(reader: &mut R, max_bytes: usize) -> Result<T, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    read_frame_budgeted(reader, max_bytes, None).await
}

/// Like [`read_frame`], taking each chunk's memory from `budget` before reading it (waiting
/// while the budget is exhausted; callers bound the whole read with a deadline). The memory is
/// given back once the frame is decoded.
pub async fn read_frame_budgeted<R, T>(
    reader: &mut R,
    max_bytes: usize,
    budget: Option<&ByteBudget>,
) -> Result<T, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let (chunks, lease) = read_chunks(reader, max_bytes, budget).await?;
    let result = match chunks.len() {
        0 => rmp_serde::from_slice(&[]),
        1 => rmp_serde::from_slice(&chunks[0]),
        _ => rmp_serde::from_read(ChunkReader::new(&chunks)),
    };
    drop(lease);
    result.map_err(|e| FrameError::Decode(e.to_string()))
}

/// Reads one frame's payload bytes (at most `max_bytes`) without decoding them.
pub async fn read_frame_bytes<R>(reader: &mut R, max_bytes: usize) -> Result<Vec<u8>, FrameError>
where
    R: AsyncRead + Unpin,
{
    let (chunks, _lease) = read_chunks(reader, max_bytes, None).await?;
    Ok(chunks.concat())
}

/// Reads a length prefix and that many payload bytes in chunks, each taken from `budget`.
async fn read_chunks<R>(
    reader: &mut R,
    max_bytes: usize,
    budget: Option<&ByteBudget>,
) -> Result<(Vec<Vec<u8>>, Lease), FrameError>
where
    R: AsyncRead + Unpin,
{
    let mut len_buf = [0u8; 4];
    let got = read_full(reader, &mut len_buf).await?;
    if got == 0 {
        return Err(FrameError::Closed);
    }
    if got < 4 {
        return Err(FrameError::Truncated { got, expected: 4 });
    }
    let len = u32::from_be_bytes(len_buf) as usize;
    if len > max_bytes {
        return Err(FrameError::TooLarge {
            len,
            max: max_bytes,
        });
    }
    let mut lease = Lease::default();
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut received = 0usize;
    while received < len {
        let want = (len - received).min(FRAME_CHUNK_BYTES);
        if let Some(budget) = budget {
            budget.grow(&mut lease, want as u64).await;
        }
        let mut chunk = vec![0u8; want];
        let got = read_full(reader, &mut chunk).await?;
        received += got;
        if got < want {
            return Err(FrameError::Truncated {
                got: received,
                expected: len,
            });
        }
        chunks.push(chunk);
    }
    Ok((chunks, lease))
}

/// Size of the chunks a frame payload is read in.
pub const FRAME_CHUNK_BYTES: usize = 64 * 1024;

/// `std::io::Read` over a list of byte chunks (decoding a frame without joining its chunks).
struct ChunkReader<'a> {
    chunks: &'a [Vec<u8>],
    index: usize,
    offset: usize,
}

impl<'a> ChunkReader<'a> {
    fn new(chunks: &'a [Vec<u8>]) -> Self {
        Self {
            chunks,
            index: 0,
            offset: 0,
        }
    }
}

impl std::io::Read for ChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(chunk) = self.chunks.get(self.index) {
            let rest = &chunk[self.offset..];
            if rest.is_empty() {
                self.index += 1;
                self.offset = 0;
                continue;
            }
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.offset += n;
            return Ok(n);
        }
        Ok(0)
    }
}

/// Reads until `buf` is full or the stream ends; returns the number of bytes read.
async fn read_full<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &("hello", 42u32)).await.unwrap();
        let got: (String, u32) = read_frame(&mut buf.as_slice(), MAX_FRAME_BYTES)
            .await
            .unwrap();
        assert_eq!(got, ("hello".to_string(), 42));
    }

    #[tokio::test]
    async fn oversized_prefix_is_refused_before_reading() {
        let mut bytes = (u32::MAX).to_be_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        let err = read_frame::<_, String>(&mut bytes.as_slice(), 1024)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { max: 1024, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn truncated_payload_is_reported() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &"a longer string").await.unwrap();
        buf.truncate(buf.len() - 3);
        let err = read_frame::<_, String>(&mut buf.as_slice(), 1024)
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Truncated { .. }), "{err}");
        let err = read_frame::<_, String>(&mut &buf[..2], 1024)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::Truncated {
                    got: 2,
                    expected: 4
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn garbage_payload_is_a_decode_error() {
        let mut bytes = 4u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0xc1, 0xc1, 0xc1, 0xc1]);
        let err = read_frame::<_, String>(&mut bytes.as_slice(), 1024)
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Decode(_)), "{err}");
    }

    proptest::proptest! {
        /// Any byte string decodes to a value or a typed error, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let _ = rt.block_on(read_frame::<_, crate::wire::MasterRequest>(&mut bytes.as_slice(), 1024));
            let _ = rt.block_on(read_frame::<_, crate::wire::Hello>(&mut bytes.as_slice(), 1024));
        }
    }

    #[tokio::test]
    async fn large_frames_are_read_in_chunks_within_a_budget() {
        let value: Vec<u64> = (0..100_000).collect();
        let mut buf = Vec::new();
        write_frame(&mut buf, &value).await.unwrap();
        assert!(buf.len() > 3 * FRAME_CHUNK_BYTES);
        let budget = ByteBudget::new(4 << 20);
        let got: Vec<u64> =
            read_frame_budgeted(&mut buf.as_slice(), MAX_FRAME_BYTES, Some(&budget))
                .await
                .unwrap();
        assert_eq!(got, value);
        assert_eq!(
            budget.available_bytes(),
            budget.total_bytes(),
            "memory given back"
        );

        // A 16 MiB announcement followed by a few bytes holds one chunk, not 16 MiB.
        let mut bytes = (MAX_FRAME_BYTES as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0x90; 10]);
        let err =
            read_frame_budgeted::<_, String>(&mut bytes.as_slice(), MAX_FRAME_BYTES, Some(&budget))
                .await
                .unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { got: 10, .. }),
            "{err}"
        );
        assert_eq!(budget.available_bytes(), budget.total_bytes());
    }

    #[tokio::test]
    async fn empty_stream_is_closed() {
        let err = read_frame::<_, String>(&mut &[][..], 1024)
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Closed));
    }
}
