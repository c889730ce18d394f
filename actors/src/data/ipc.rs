//! Partitions as bytes: one Arrow `RecordBatch` per partition, in the Arrow IPC stream format.

use std::io::Cursor;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{ArrowError, Schema};

/// Encodes a batch as Arrow IPC stream bytes.
pub fn encode(batch: &RecordBatch) -> Result<Vec<u8>, ArrowError> {
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() + 1024);
    {
        let mut writer = StreamWriter::try_new(&mut buf, &batch.schema())?;
        writer.write(batch)?;
        writer.finish()?;
    }
    Ok(buf)
}

/// Decodes Arrow IPC stream bytes into one batch (several batches are concatenated).
pub fn decode(bytes: &[u8]) -> Result<RecordBatch, ArrowError> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    match batches.len() {
        1 => Ok(batches.into_iter().next().expect("one batch")),
        0 => Ok(RecordBatch::new_empty(schema)),
        _ => arrow_select::concat::concat_batches(&schema, &batches),
    }
}

/// Decodes Arrow IPC stream bytes without copying the column data: the arrays point into
/// `bytes` (a cached block is read at memory speed).
pub fn decode_shared(bytes: bytes::Bytes) -> Result<RecordBatch, ArrowError> {
    let mut buffer = arrow_buffer::Buffer::from(bytes);
    let mut decoder = arrow_ipc::reader::StreamDecoder::new();
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        let before = buffer.len();
        if let Some(batch) = decoder.decode(&mut buffer)? {
            batches.push(batch);
        }
        if buffer.len() == before {
            break;
        }
    }
    decoder.finish()?;
    let schema = match decoder.schema() {
        Some(schema) => schema,
        None => return Err(ArrowError::IpcError("no schema in the stream".into())),
    };
    match batches.len() {
        1 => Ok(batches.pop().expect("one batch")),
        0 => Ok(RecordBatch::new_empty(schema)),
        _ => arrow_select::concat::concat_batches(&schema, &batches),
    }
}

/// An empty batch with no columns (for actions over nothing).
pub fn empty() -> RecordBatch {
    RecordBatch::new_empty(Arc::new(Schema::empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array};

    #[test]
    fn round_trip_is_exact() {
        let batch = RecordBatch::try_from_iter([
            ("x", Arc::new(Int64Array::from(vec![1, 2, 3])) as _),
            (
                "y",
                Arc::new(Float64Array::from(vec![0.5, f64::NAN, -0.0])) as _,
            ),
        ])
        .unwrap();
        let bytes = encode(&batch).unwrap();
        let back = decode(&bytes).unwrap();
        assert_eq!(encode(&back).unwrap(), bytes, "bit-identical re-encoding");
        assert_eq!(back.num_rows(), 3);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"definitely not arrow").is_err());
        assert!(decode(&[]).is_err());
        assert!(decode_shared(bytes::Bytes::from_static(b"definitely not arrow")).is_err());
        assert!(decode_shared(bytes::Bytes::new()).is_err());
    }

    #[test]
    fn shared_decoding_equals_copying_decoding() {
        let batch = RecordBatch::try_from_iter([(
            "y",
            Arc::new(Float64Array::from(
                (0..1000).map(f64::from).collect::<Vec<_>>(),
            )) as _,
        )])
        .unwrap();
        let bytes = encode(&batch).unwrap();
        let empty = encode(&batch.slice(0, 0)).unwrap();
        assert_eq!(decode_shared(bytes.into()).unwrap(), batch);
        assert_eq!(decode_shared(empty.into()).unwrap().num_rows(), 0);
    }
}
