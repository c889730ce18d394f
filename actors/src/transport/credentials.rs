//! Cluster credentials: a cluster CA and a member certificate signed by it, created by
//! `cinder init` (or `cinder cert issue`) and loaded by every daemon and client.
//!
//! Layout of a cluster directory (every file mode 0600, the directory 0700):
//!
//! | file         | content                                                              |
//! |--------------|----------------------------------------------------------------------|
//! | `ca.pem`     | the cluster CA certificate (trust root for every peer)               |
//! | `ca.key`     | the CA private key: only in the administrator's CA directory         |
//! | `member.pem` | this member's certificate (role and name inside), signed by the CA   |
//! | `member.key` | this member's private key                                            |
//! | `crl.pem`    | optional: revoked certificates, refused by daemons (`cinder cert revoke`) |
//! | `issued.json`| CA directory only: the index of issued certificates                  |

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use super::authority;
use super::identity::{Identity, Role};

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
/// File name of the revocation list inside a cluster directory.
pub const CRL_FILE: &str = "crl.pem";
/// Name of the member `cinder init` creates.
pub const INIT_MEMBER_NAME: &str = "admin";

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
    /// Revocation lists (`crl.pem`, if present): certificates this member refuses.
    pub crls: Vec<CertificateRevocationListDer<'static>>,
}

impl Credentials {
    /// Creates a new cluster CA and an `admin` member certificate in `dir` (created if missing).
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
        let ca = authority::new_ca()?;
        let member = authority::issue_member(
            &ca.key_pem,
            Role::Admin,
            INIT_MEMBER_NAME,
            authority::DEFAULT_MEMBER_DAYS,
        )?;
        write_file(&dir.join(CA_KEY_FILE), &ca.key_pem)?;
        write_file(&dir.join(MEMBER_KEY_FILE), &member.key_pem)?;
        write_file(&dir.join(CA_CERT_FILE), &ca.cert_pem)?;
        write_file(&dir.join(MEMBER_CERT_FILE), &member.cert_pem)?;
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
        let crls = load_crls(&dir.join(CRL_FILE))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            ca,
            chain,
            key,
            crls,
        })
    }

    /// This member's identity (role and name) from its certificate.
    pub fn identity(&self) -> Result<Identity, CredentialError> {
        Identity::from_der(&self.chain[0]).map_err(|e| CredentialError::Pem {
            path: self.dir.join(MEMBER_CERT_FILE),
            what: e.to_string(),
        })
    }

    /// Loads credentials and wraps them for sharing between endpoints.
    pub fn load_shared(dir: &Path) -> Result<Arc<Self>, CredentialError> {
        Self::load(dir).map(Arc::new)
    }
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

/// Loads the revocation lists of `path`; none when the file does not exist.
fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, CredentialError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let pem = read_file(path)?;
    CertificateRevocationListDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CredentialError::Pem {
            path: path.to_path_buf(),
            what: format!("malformed revocation list ({e})"),
        })
}

/// Writes a new credentials file, private (0600) whether it holds a key or a certificate.
pub(crate) fn write_file(path: &Path, content: &str) -> Result<(), CredentialError> {
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
