//! Who a peer is, from its certificate: a [`Role`] and a name.
//!
//! Member certificates carry the name as the subject's common name (CN) and the role as its
//! organizational unit (OU), the convention of Kubernetes client certificates (CN = user,
//! O = group). Only the cluster CA signs member certificates, and `cinder cert issue` is the
//! only tool that does, so what the certificate says is what the CA's holder decided.
//!
//! Certificates written by `cinder init` before roles existed carry no OU; they are treated as
//! `admin` (what every member could do then) and flagged [`Identity::legacy`] so daemons can
//! warn about them.
//!
//! The certificate is read with a small bounded DER reader (no allocation beyond the name and
//! serial, no recursion beyond the fixed path to the subject), fuzzed in the tests.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a member may do, named in its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The master daemon: runs tasks on workers, removes blocks.
    Master,
    /// A worker daemon: registers under the name in its certificate, moves blocks among peers.
    Worker,
    /// A driver program: submits jobs, reads and writes its own application's blocks.
    Driver,
    /// Read-only: cluster status and nothing else (`cinder status`, `cinder top`).
    Monitor,
    /// Everything (the administrator; `cinder init`'s member, the embedded cluster).
    Admin,
}

impl Role {
    /// Every role, in the order the CLI lists them.
    pub const ALL: [Role; 5] = [
        Role::Master,
        Role::Worker,
        Role::Driver,
        Role::Monitor,
        Role::Admin,
    ];

    /// The role's name as written in certificates and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Worker => "worker",
            Role::Driver => "driver",
            Role::Monitor => "monitor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| IdentityError::UnknownRole(s.to_string()))
    }
}

/// A member's identity as its certificate states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// What it may do.
    pub role: Role,
    /// Its name (a worker's id, a driver's name).
    pub name: String,
    /// The certificate's serial number (big-endian bytes, as encoded).
    pub serial: Vec<u8>,
    /// True for a certificate without a role (written before roles existed): treated as admin.
    pub legacy: bool,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.role, self.name)
    }
}

/// Why a certificate does not state a usable identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The DER structure is not a certificate.
    #[error("malformed certificate: {0}")]
    Malformed(&'static str),
    /// The OU names no known role.
    #[error("unknown role {0:?} (expected master, worker, driver, monitor or admin)")]
    UnknownRole(String),
    /// The name is empty, too long or has characters outside `[A-Za-z0-9._-]`.
    #[error("invalid member name {0:?}: use 1 to 64 characters of A-Z a-z 0-9 . _ -")]
    InvalidName(String),
    /// The peer presented no certificate.
    #[error("the peer presented no certificate")]
    NoCertificate,
}

/// Longest member name.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a member name: 1 to [`MAX_NAME_LEN`] characters of `[A-Za-z0-9._-]`.
pub fn validate_name(name: &str) -> Result<(), IdentityError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(IdentityError::InvalidName(name.to_string()))
    }
}

/// DER of OID 2.5.4.3 (commonName).
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// DER of OID 2.5.4.11 (organizationalUnitName).
const OID_ORG_UNIT: &[u8] = &[0x55, 0x04, 0x0b];

impl Identity {
    /// Reads the identity from a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, IdentityError> {
        let fields = CertFields::parse(der)?;
        let name = fields
            .common_name
            .ok_or(IdentityError::Malformed("no common name"))?;
        let (role, legacy, name) = match fields.org_unit {
            Some(role) => (role.parse::<Role>()?, false, name),
            None => (Role::Admin, true, name),
        };
        if !legacy {
            validate_name(&name)?;
        }
        Ok(Self {
            role,
            name,
            serial: fields.serial,
            legacy,
        })
    }

    /// Reads the identity of a quinn connection's peer (its first certificate).
    pub fn of_connection(conn: &quinn::Connection) -> Result<Self, IdentityError> {
        let cert = peer_certificate(conn).ok_or(IdentityError::NoCertificate)?;
        Self::from_der(&cert)
    }

    /// The serial number as lowercase hex (how the issued index and logs show it).
    pub fn serial_hex(&self) -> String {
        hex(&self.serial)
    }
}

/// The end-entity certificate a quinn connection's peer presented.
pub fn peer_certificate(
    conn: &quinn::Connection,
) -> Option<rustls::pki_types::CertificateDer<'static>> {
    let any = conn.peer_identity()?;
    let chain = any
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    chain.first().cloned()
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The parts of a certificate an identity needs.
struct CertFields {
    serial: Vec<u8>,
    common_name: Option<String>,
    org_unit: Option<String>,
}

impl CertFields {
    fn parse(der: &[u8]) -> Result<Self, IdentityError> {
        let mut outer = Der::new(der);
        let cert = outer.expect(0x30, "certificate is not a sequence")?;
        let mut cert = Der::new(cert);
        let tbs = cert.expect(0x30, "no tbsCertificate")?;
        let mut tbs = Der::new(tbs);
        if tbs.peek_tag() == Some(0xa0) {
            tbs.any()?; // version
        }
        let serial = tbs.expect(0x02, "no serial number")?.to_vec();
        tbs.expect(0x30, "no signature algorithm")?;
        tbs.expect(0x30, "no issuer")?;
        tbs.expect(0x30, "no validity")?;
        let subject = tbs.expect(0x30, "no subject")?;
        let mut fields = Self {
            serial,
            common_name: None,
            org_unit: None,
        };
        let mut rdns = Der::new(subject);
        while !rdns.is_empty() {
            let mut set = Der::new(rdns.expect(0x31, "subject entry is not a set")?);
            while !set.is_empty() {
                let mut attr = Der::new(set.expect(0x30, "attribute is not a sequence")?);
                let oid = attr.expect(0x06, "attribute without type")?;
                let (tag, value) = attr.any()?;
                if !matches!(tag, 0x0c | 0x13 | 0x16) {
                    continue; // not a UTF8String, PrintableString or IA5String
                }
                let text = std::str::from_utf8(value)
                    .map_err(|_| IdentityError::Malformed("attribute is not UTF-8"))?;
                if oid == OID_COMMON_NAME {
                    fields.common_name = Some(text.to_string());
                } else if oid == OID_ORG_UNIT {
                    fields.org_unit = Some(text.to_string());
                }
            }
        }
        Ok(fields)
    }
}

/// A cursor over DER elements (definite lengths only, as DER requires).
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element's tag and contents.
    fn any(&mut self) -> Result<(u8, &'a [u8]), IdentityError> {
        let truncated = IdentityError::Malformed("truncated element");
        let (&tag, rest) = self.rest.split_first().ok_or(truncated.clone())?;
        let (&first, mut rest) = rest.split_first().ok_or(truncated.clone())?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return Err(IdentityError::Malformed("unsupported length"));
            }
            let len = rest[..count]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            rest = &rest[count..];
            len
        };
        if rest.len() < len {
            return Err(truncated);
        }
        let (content, after) = rest.split_at(len);
        self.rest = after;
        Ok((tag, content))
    }

    fn expect(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], IdentityError> {
        match self.any() {
            Ok((t, content)) if t == tag => Ok(content),
            _ => Err(IdentityError::Malformed(what)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!(matches!(
            "root".parse::<Role>(),
            Err(IdentityError::UnknownRole(_))
        ));
    }

    #[test]
    fn names_are_checked() {
        validate_name("worker-1").unwrap();
        validate_name("a.b_c").unwrap();
        for bad in ["", "a b", "x/y", "é", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Arbitrary bytes give an identity or a typed error, never a panic.
        #[test]
        fn arbitrary_der_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = Identity::from_der(&bytes);
        }

        /// A real member certificate with bytes replaced or cut gives an identity or a typed
        /// error, never a panic.
        #[test]
        fn mutated_certificates_never_panic(
            edits in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 1..4),
            cut in proptest::num::usize::ANY,
        ) {
            let mut der = MEMBER_DER.clone();
            for (at, value) in edits {
                let i = at % der.len();
                der[i] = value;
            }
            let _ = Identity::from_der(&der);
            let _ = Identity::from_der(&der[..cut % (der.len() + 1)]);
        }
    }

    static MEMBER_DER: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        let ca = crate::transport::authority::new_ca().unwrap();
        let member =
            crate::transport::authority::issue_member(&ca.key_pem, Role::Driver, "d", 1).unwrap();
        let der =
            rustls::pki_types::CertificateDer::from_pem_slice(member.cert_pem.as_bytes()).unwrap();
        der.to_vec()
    });

    #[test]
    fn a_member_certificate_states_its_identity() {
        let identity = Identity::from_der(&MEMBER_DER).unwrap();
        assert_eq!((identity.role, identity.name.as_str()), (Role::Driver, "d"));
    }
}
