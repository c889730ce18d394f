//! Judging a connection's hello, as a pure function of its payload bytes (fuzzed in the tests).
//!
//! The version is read first, from a payload that may carry fields this build does not know, so
//! a peer speaking another protocol version gets a refusal naming both versions rather than a
//! decode error.

use serde::Deserialize;

use crate::wire::{Hello, PROTOCOL_VERSION};

/// Why a hello is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloRefusal {
    /// The payload is not a hello at all.
    #[error("malformed hello: {0}")]
    Malformed(String),
    /// The peer speaks another protocol version.
    #[error("protocol version {theirs} is not supported (this daemon speaks {ours})")]
    Version {
        /// The peer's version.
        theirs: u32,
        /// Ours.
        ours: u32,
    },
}

impl HelloRefusal {
    /// True when the peer deserves a reply (it spoke the hello, in another version); malformed
    /// hellos just get the connection closed.
    pub fn answer_peer(&self) -> bool {
        matches!(self, Self::Version { .. })
    }
}

#[derive(Deserialize)]
struct VersionOnly {
    protocol_version: u32,
}

/// Decodes and checks a hello payload.
pub fn judge_hello(payload: &[u8]) -> Result<Hello, HelloRefusal> {
    let version: VersionOnly =
        rmp_serde::from_slice(payload).map_err(|e| HelloRefusal::Malformed(e.to_string()))?;
    if version.protocol_version != PROTOCOL_VERSION {
        return Err(HelloRefusal::Version {
            theirs: version.protocol_version,
            ours: PROTOCOL_VERSION,
        });
    }
    rmp_serde::from_slice(payload).map_err(|e| HelloRefusal::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PeerRole;

    #[test]
    fn a_future_hello_is_refused_naming_both_versions() {
        #[derive(serde::Serialize)]
        struct FutureHello {
            protocol_version: u32,
            role: &'static str,
            name: &'static str,
            features: Vec<&'static str>,
        }
        let payload = rmp_serde::to_vec_named(&FutureHello {
            protocol_version: 7,
            role: "Quantum",
            name: "x",
            features: vec!["warp"],
        })
        .unwrap();
        let err = judge_hello(&payload).unwrap_err();
        assert!(err.answer_peer());
        let text = err.to_string();
        assert!(
            text.contains('7') && text.contains(&PROTOCOL_VERSION.to_string()),
            "{text}"
        );
    }

    #[test]
    fn a_current_hello_is_accepted() {
        let hello = Hello {
            protocol_version: PROTOCOL_VERSION,
            role: PeerRole::Client,
            name: "me".into(),
            application: None,
        };
        let payload = rmp_serde::to_vec_named(&hello).unwrap();
        assert_eq!(judge_hello(&payload).unwrap().name, "me");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]
        /// Any payload is accepted or refused, never a panic.
        #[test]
        fn arbitrary_hello_payloads_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = judge_hello(&bytes);
        }

        /// A valid hello with bytes flipped is accepted or refused, never a panic.
        #[test]
        fn mutated_hellos_never_panic(at in 0usize..64, value in proptest::num::u8::ANY, name in "[a-z]{0,20}") {
            let hello = Hello { protocol_version: PROTOCOL_VERSION, role: PeerRole::Worker, name, application: None };
            let mut payload = rmp_serde::to_vec_named(&hello).unwrap();
            let i = at % payload.len();
            payload[i] = value;
            let _ = judge_hello(&payload);
        }
    }
}
