//! The cluster CA's work: creating the CA, issuing member certificates that carry a role and a
//! name, and signing the revocation list. Used by `cinder init` and `cinder cert`; nothing
//! here runs on daemons (they never see the CA key).
//!
//! Validity: the CA for [`CA_VALIDITY_DAYS`], members for the days asked (365 by default),
//! each starting one day back to tolerate clock skew between hosts.

use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevokedCertParams, SerialNumber,
};

use super::credentials::{CredentialError, SERVER_NAME};
use super::identity::{validate_name, Identity, Role};

/// How long a cluster CA is valid.
pub const CA_VALIDITY_DAYS: u32 = 3650;
/// How long a member certificate is valid unless asked otherwise.
pub const DEFAULT_MEMBER_DAYS: u32 = 365;
/// How long a revocation list is valid (daemons do not refuse an expired list; the date is
/// informational).
const CRL_VALIDITY_DAYS: u32 = 3650;
/// Common name of the cluster CA.
const CA_COMMON_NAME: &str = "cinder cluster CA";

/// A member certificate and its key, PEM-encoded, with what the index records.
#[derive(Debug, Clone)]
pub struct IssuedMember {
    /// The member certificate.
    pub cert_pem: String,
    /// The member's private key.
    pub key_pem: String,
    /// Who it is.
    pub identity: Identity,
    /// Expiry as `YYYY-MM-DD` (UTC).
    pub not_after: String,
}

/// A new cluster CA, PEM-encoded.
#[derive(Debug, Clone)]
pub struct NewCa {
    /// The CA certificate.
    pub cert_pem: String,
    /// The CA private key.
    pub key_pem: String,
}

/// Creates a new cluster CA valid for [`CA_VALIDITY_DAYS`].
pub fn new_ca() -> Result<NewCa, CredentialError> {
    let key = KeyPair::generate()?;
    let key_pem = key.serialize_pem();
    let mut params = ca_params();
    let today = days_since_epoch_now();
    params.not_before = date(today - 1);
    params.not_after = date(today + i64::from(CA_VALIDITY_DAYS));
    let ca = CertifiedIssuer::self_signed(params, key)?;
    Ok(NewCa {
        cert_pem: ca.pem(),
        key_pem,
    })
}

/// Issues a member certificate for `role`/`name` valid for `days`, signed by the CA key.
pub fn issue_member(
    ca_key_pem: &str,
    role: Role,
    name: &str,
    days: u32,
) -> Result<IssuedMember, CredentialError> {
    validate_name(name).map_err(|e| CredentialError::Tls(e.to_string()))?;
    if days == 0 {
        return Err(CredentialError::Tls("--days must be at least 1".into()));
    }
    let issuer = issuer(ca_key_pem)?;
    let mut params = CertificateParams::new(vec![SERVER_NAME.to_string(), "localhost".into()])?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationalUnitName, role.as_str());
    params.distinguished_name = dn;
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
    let today = days_since_epoch_now();
    let expiry = today + i64::from(days);
    params.not_before = date(today - 1);
    params.not_after = date(expiry);
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    let identity = Identity::from_der(cert.der())
        .map_err(|e| CredentialError::Tls(format!("issued certificate: {e}")))?;
    Ok(IssuedMember {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        identity,
        not_after: ymd(expiry),
    })
}

/// Signs a revocation list naming `serials` (big-endian bytes), PEM-encoded. `number` must
/// grow with every new list.
pub fn revocation_list(
    ca_key_pem: &str,
    serials: &[Vec<u8>],
    number: u64,
) -> Result<String, CredentialError> {
    let issuer = issuer(ca_key_pem)?;
    let today = days_since_epoch_now();
    let params = CertificateRevocationListParams {
        this_update: date(today - 1),
        next_update: date(today + i64::from(CRL_VALIDITY_DAYS)),
        crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs: serials
            .iter()
            .map(|serial| RevokedCertParams {
                serial_number: SerialNumber::from_slice(serial),
                revocation_time: date(today - 1),
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    };
    Ok(params.signed_by(&issuer)?.pem()?)
}

/// The last valid day (`YYYY-MM-DD`, UTC) of a member certificate issued today for `days`.
pub fn expiry_date(days: u32) -> String {
    ymd(days_since_epoch_now() + i64::from(days))
}

/// The CA's parameters; the same every time, so an [`Issuer`] rebuilt from them and the CA key
/// signs exactly as the CA certificate says.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn issuer(ca_key_pem: &str) -> Result<Issuer<'static, KeyPair>, CredentialError> {
    let key = KeyPair::from_pem(ca_key_pem)?;
    Ok(Issuer::new(ca_params(), key))
}

/// 16 random-enough bytes for a serial number (uniqueness matters, not secrecy): the std hasher's
/// per-process random keys mixed with the time and a counter. The top bit is cleared so the
/// serial is a positive INTEGER.
fn random_serial() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut out = [0u8; 16];
    for (i, half) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_usize(i);
        h.write_u32(std::process::id());
        half.copy_from_slice(&h.finish().to_be_bytes());
    }
    out[0] &= 0x7f;
    out[0] |= 0x01;
    out
}

fn days_since_epoch_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (secs / 86_400) as i64
}

/// Civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

fn date(days: i64) -> time::OffsetDateTime {
    let (y, m, d) = civil(days);
    rcgen::date_time_ymd(y, m, d)
}

/// `YYYY-MM-DD` of a day count since 1970-01-01.
fn ymd(days: i64) -> String {
    let (y, m, d) = civil(days);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_723), (2024, 1, 1));
        assert_eq!(civil(19_782), (2024, 2, 29));
        assert_eq!(ymd(20_423), "2025-12-01");
    }

    #[test]
    fn issued_members_carry_role_and_name() {
        let ca = new_ca().unwrap();
        let member = issue_member(&ca.key_pem, Role::Worker, "worker-7", 30).unwrap();
        assert_eq!(member.identity.role, Role::Worker);
        assert_eq!(member.identity.name, "worker-7");
        assert!(!member.identity.legacy);
        assert_eq!(member.identity.serial.len(), 16);
        let other = issue_member(&ca.key_pem, Role::Driver, "etl", 1).unwrap();
        assert_ne!(member.identity.serial, other.identity.serial);
        assert!(issue_member(&ca.key_pem, Role::Driver, "bad name", 1).is_err());
        let crl = revocation_list(
            &ca.key_pem,
            std::slice::from_ref(&member.identity.serial),
            1,
        )
        .unwrap();
        assert!(crl.contains("BEGIN X509 CRL"));
    }
}
