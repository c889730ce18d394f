//! Bounded fuzzing of the decoders every peer can reach, run with the normal tests (proptest;
//! cargo-fuzz needs a nightly toolchain): arbitrary bytes, valid messages with bytes flipped or
//! cut, and frames split at arbitrary read boundaries. Each input must decode to a value or a
//! typed error, never a panic or a hang.

use proptest::prelude::*;

use super::*;

/// Decodes `payload` as every message type a daemon or client reads from a peer.
fn decode_everything(payload: &[u8]) {
    let _ = rmp_serde::from_slice::<Hello>(payload);
    let _ = rmp_serde::from_slice::<HelloReply>(payload);
    let _ = rmp_serde::from_slice::<MasterRequest>(payload);
    let _ = rmp_serde::from_slice::<MasterResponse>(payload);
    let _ = rmp_serde::from_slice::<WorkerRequest>(payload);
    let _ = rmp_serde::from_slice::<WorkerResponse>(payload);
    let _ = rmp_serde::from_slice::<JobSpec>(payload);
    let _ = rmp_serde::from_slice::<TaskSpec>(payload);
    let _ = crate::transport::hello::judge_hello(payload);
}

/// Valid encodings of a few messages, the seeds that mutations start from.
fn seeds() -> Vec<Vec<u8>> {
    let messages: Vec<Vec<u8>> = vec![
        frame::encode(&MasterRequest::RegisterWorker {
            worker_id: "w1".into(),
            address: "127.0.0.1:1".into(),
            cores: 2,
            memory_budget_bytes: 1 << 20,
            pid: 7,
            blocks: vec![(BlockId::new("rdd_1_0"), 10)],
            watcher_pid: Some(8),
        })
        .unwrap(),
        frame::encode(&MasterRequest::Status).unwrap(),
        frame::encode(&WorkerRequest::PutBlock {
            block_id: BlockId::new("b"),
            len: 3,
            level: StorageLevel::MemoryAndDisk,
        })
        .unwrap(),
        frame::encode(&WorkerResponse::Pong {
            worker_id: "w1".into(),
        })
        .unwrap(),
        frame::encode(&HelloReply::Refused {
            reason: "no".into(),
        })
        .unwrap(),
        frame::encode(&Hello {
            application: None,
            protocol_version: PROTOCOL_VERSION,
            role: PeerRole::Client,
            name: "c".into(),
        })
        .unwrap(),
    ];
    messages
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// An `AsyncRead` that hands out its bytes in pieces of the given sizes (then the rest).
struct Pieces {
    bytes: Vec<u8>,
    sizes: Vec<usize>,
    at: usize,
}

impl tokio::io::AsyncRead for Pieces {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = &mut *self;
        let size = if this.sizes.is_empty() {
            usize::MAX
        } else {
            this.sizes.remove(0).max(1)
        };
        let n = size.min(buf.remaining()).min(this.bytes.len() - this.at);
        buf.put_slice(&this.bytes[this.at..this.at + n]);
        this.at += n;
        std::task::Poll::Ready(Ok(()))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary payloads decode to a value or an error for every message type.
    #[test]
    fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    /// Valid messages with a few bytes replaced, or cut short, never panic a decoder.
    #[test]
    fn mutated_messages_never_panic(
        seed in 0usize..6,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let mut payload = seeds()[seed].clone();
        for (at, value) in edits {
            let i = at % payload.len();
            payload[i] = value;
        }
        decode_everything(&payload);
        decode_everything(&payload[..cut % (payload.len() + 1)]);
    }

    /// Frames split at arbitrary read boundaries decode exactly as whole ones, and arbitrary
    /// length prefixes with short bodies end in a typed error.
    #[test]
    fn frames_survive_any_read_boundaries(
        name in "[a-z]{0,40}",
        sizes in proptest::collection::vec(1usize..9, 0..16),
        prefix in any::<u32>(),
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let rt = runtime();
        let hello = Hello {
            protocol_version: PROTOCOL_VERSION,
            role: PeerRole::Worker,
            name,
            application: None,
        };
        let payload = frame::encode(&hello).unwrap();
        let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        let mut reader = Pieces { bytes, sizes: sizes.clone(), at: 0 };
        let got: Hello = rt.block_on(read_frame(&mut reader, MAX_FRAME_BYTES)).unwrap();
        prop_assert_eq!(got.name, hello.name);

        let mut bytes = prefix.to_be_bytes().to_vec();
        bytes.extend_from_slice(&tail);
        let mut reader = Pieces { bytes, sizes, at: 0 };
        let budget = ByteBudget::new(1 << 20);
        let result = rt.block_on(read_frame_budgeted::<_, MasterRequest>(
            &mut reader,
            MAX_FRAME_BYTES,
            Some(&budget),
        ));
        prop_assert!(result.is_err() || tail.len() >= prefix as usize);
        prop_assert_eq!(budget.available_bytes(), budget.total_bytes());
    }
}
