//! Cluster credentials: a cluster CA and a member certificate signed by it, created by
//! `cinder init` and loaded by every daemon and client.
//!
//! Layout of a cluster directory:
//!
//! | file         | content                                                   |
//! |--------------|-----------------------------------------------------------|
//! | `ca.pem`     | the cluster CA certificate (trust root for every peer)    |
//! | `ca.key`     | the CA private key (mode 0600; needed only to add members)|
//! | `member.pem` | the member certificate, signed by the CA                  |
//! | `member.key` | the member private key (mode 0600)                        |

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The TLS server name every member certificate carries and every client asks for. Peers are
/// identified by the cluster CA, not by host names, so clusters work on any addresses.
pub const SERVER_NAME: &str = "cinder.cluster";

/// File name of the CA certificate inside a cluster directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA key inside a cluster directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// File name of the member certificate inside a cluster directory.
pub const MEMBER_CERT_FILE: &str = "member.pem";
/// File name of the member key inside a cluster directory.
pub const MEMBER_KEY_FILE: &str = "member.key";

/// Why credentials could not be created or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A PEM file did not hold what it should.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// `cinder init` would overwrite an existing cluster.
    #[error("{path} already holds cluster credentials; refusing to overwrite them")]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// Certificate generation failed.
    #[error("cannot generate certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// The TLS library refused the credentials.
    #[error("invalid TLS credentials: {0}")]
    Tls(String),
}

/// Loaded credentials of one cluster member: the trust root and this member's identity.
#[derive(Debug)]
pub struct Credentials {
    /// The directory they were loaded from (for messages).
    pub dir: PathBuf,
    /// The cluster CA certificate.
    pub ca: CertificateDer<'static>,
    /// This member's certificate chain.
    pub chain: Vec<CertificateDer<'static>>,
    /// This member's private key.
    pub key: PrivateKeyDer<'static>,
}

impl Credentials {
    /// Creates a new cluster CA and a member certificate in `dir` (created if missing).
    /// Refuses to overwrite existing credentials.
    pub fn init(dir: &Path) -> Result<Self, CredentialError> {
        crate::private_fs::create_dir_all(dir).map_err(|source| CredentialError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        for file in [CA_CERT_FILE, CA_KEY_FILE, MEMBER_CERT_FILE, MEMBER_KEY_FILE] {
            let path = dir.join(file);
            if path.exists() {
                return Err(CredentialError::AlreadyExists { path });
            }
        }
        let generated = generate()?;
        write_file(&dir.join(CA_KEY_FILE), &generated.ca_key_pem, true)?;
        write_file(&dir.join(MEMBER_KEY_FILE), &generated.member_key_pem, true)?;
        write_file(&dir.join(CA_CERT_FILE), &generated.ca_cert_pem, false)?;
        write_file(
            &dir.join(MEMBER_CERT_FILE),
            &generated.member_cert_pem,
            false,
        )?;
        Self::load(dir)
    }

    /// Loads the credentials of a cluster directory written by [`Credentials::init`].
    pub fn load(dir: &Path) -> Result<Self, CredentialError> {
        let ca_path = dir.join(CA_CERT_FILE);
        let ca = load_certs(&ca_path)?.remove(0);
        let chain = load_certs(&dir.join(MEMBER_CERT_FILE))?;
        let key_path = dir.join(MEMBER_KEY_FILE);
        let key_pem = read_file(&key_path)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| CredentialError::Pem {
            path: key_path.clone(),
            what: format!("no private key found ({e})"),
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            ca,
            chain,
            key,
        })
    }

    /// Loads credentials and wraps them for sharing between endpoints.
    pub fn load_shared(dir: &Path) -> Result<Arc<Self>, CredentialError> {
        Self::load(dir).map(Arc::new)
    }
}

struct Generated {
    ca_cert_pem: String,
    ca_key_pem: String,
    member_cert_pem: String,
    member_key_pem: String,
}

fn generate() -> Result<Generated, CredentialError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    let mut ca_name = DistinguishedName::new();
    ca_name.push(DnType::CommonName, "cinder cluster CA");
    ca_params.distinguished_name = ca_name;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;

    let mut member_params =
        CertificateParams::new(vec![SERVER_NAME.to_string(), "localhost".to_string()])?;
    let mut member_name = DistinguishedName::new();
    member_name.push(DnType::CommonName, "cinder member");
    member_params.distinguished_name = member_name;
    member_params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    member_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let member_key = KeyPair::generate()?;
    let member_cert = member_params.signed_by(&member_key, &ca)?;
    Ok(Generated {
        ca_cert_pem: ca.pem(),
        ca_key_pem,
        member_cert_pem: member_cert.pem(),
        member_key_pem: member_key.serialize_pem(),
    })
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, CredentialError> {
    let pem = read_file(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CredentialError::Pem {
            path: path.to_path_buf(),
            what: format!("malformed certificate ({e})"),
        })?;
    if certs.is_empty() {
        return Err(CredentialError::Pem {
            path: path.to_path_buf(),
            what: "no certificate found".into(),
        });
    }
    Ok(certs)
}

fn read_file(path: &Path) -> Result<Vec<u8>, CredentialError> {
    std::fs::read(path).map_err(|source| CredentialError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a new credentials file, private (0600) whether it holds a key or a certificate.
fn write_file(path: &Path, content: &str, _secret: bool) -> Result<(), CredentialError> {
    use std::io::Write;
    let io_err = |source| CredentialError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = crate::private_fs::create_new_file(path).map_err(io_err)?;
    file.write_all(content.as_bytes()).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_then_load_and_refuse_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let created = Credentials::init(dir.path()).unwrap();
        let loaded = Credentials::load(dir.path()).unwrap();
        assert_eq!(created.ca, loaded.ca);
        assert_eq!(created.chain, loaded.chain);
        let err = Credentials::init(dir.path()).unwrap_err();
        assert!(
            matches!(err, CredentialError::AlreadyExists { .. }),
            "{err}"
        );
    }

    #[test]
    fn missing_and_corrupt_files_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = Credentials::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("ca.pem"), "{err}");
        Credentials::init(dir.path()).unwrap();
        std::fs::write(dir.path().join(MEMBER_CERT_FILE), "garbage").unwrap();
        let err = Credentials::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("member.pem"), "{err}");
    }
}
