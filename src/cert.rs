//! `cinder cert issue` and `cinder cert revoke`: the administrator's side of member identities.
//!
//! Both run where the CA key is (the directory `cinder init` wrote). The CA directory keeps an
//! index of what was issued, `issued.json` (name, role, serial, expiry, revoked), and the
//! revocation list `crl.pem` that masters and workers refuse.

use std::path::{Path, PathBuf};

use cinder_actors::private_fs;
use cinder_actors::transport::authority;
use cinder_actors::transport::credentials::{
    CA_CERT_FILE, CA_KEY_FILE, CRL_FILE, MEMBER_CERT_FILE, MEMBER_KEY_FILE,
};
use cinder_actors::transport::{Credentials, Role};
use serde::{Deserialize, Serialize};

use crate::cli::{CertIssueArgs, CertRevokeArgs};
use crate::{Error, Result};

/// File name of the issued-certificate index in a CA directory.
pub const INDEX_FILE: &str = "issued.json";

/// The CA directory's record of issued certificates.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Index {
    /// Number of the last revocation list written (grows with each).
    #[serde(default)]
    pub crl_number: u64,
    /// Every certificate issued, oldest first.
    #[serde(default)]
    pub certificates: Vec<IndexEntry>,
}

/// One issued certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Member name.
    pub name: String,
    /// Member role.
    pub role: Role,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Last valid day, `YYYY-MM-DD` (UTC).
    pub not_after: String,
    /// True once revoked.
    #[serde(default)]
    pub revoked: bool,
}

impl Index {
    /// Loads the index of `ca_dir` (empty when there is none yet).
    pub fn load(ca_dir: &Path) -> Result<Self> {
        let path = ca_dir.join(INDEX_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Input(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    /// Writes the index atomically (a private sibling renamed into place).
    pub fn save(&self, ca_dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("index serializes");
        write_atomic(&ca_dir.join(INDEX_FILE), json.as_bytes())
    }
}

/// Records the `admin` member `cinder init` wrote into its new CA directory's index, so it can
/// be revoked like any other.
pub fn record_init_member(ca_dir: &Path) -> Result<IndexEntry> {
    let identity = Credentials::load(ca_dir)?.identity()?;
    let entry = IndexEntry {
        name: identity.name.clone(),
        role: identity.role,
        serial: identity.serial_hex(),
        not_after: authority::expiry_date(authority::DEFAULT_MEMBER_DAYS),
        revoked: false,
    };
    let mut index = Index::load(ca_dir)?;
    index.certificates.push(entry.clone());
    index.save(ca_dir)?;
    Ok(entry)
}

/// `cinder cert issue`: returns the issued entry.
pub fn issue(args: &CertIssueArgs) -> Result<IndexEntry> {
    let ca_key = read_ca_key(&args.ca)?;
    let ca_pem = read(&args.ca.join(CA_CERT_FILE))?;
    if same_dir(&args.out, &args.ca) {
        return Err(Error::Input(format!(
            "--out {} is the CA directory; give the member its own directory",
            args.out.display()
        )));
    }
    for file in [MEMBER_CERT_FILE, MEMBER_KEY_FILE] {
        let path = args.out.join(file);
        if path.exists() {
            return Err(Error::Input(format!(
                "{} already exists; refusing to overwrite a member's credentials",
                path.display()
            )));
        }
    }
    let member = authority::issue_member(&ca_key, args.role, &args.name, args.days)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    private_fs::create_dir_all(&args.out).map_err(io(&args.out))?;
    private_fs::restrict_dir(&args.out).map_err(io(&args.out))?;
    for (file, content) in [
        (CA_CERT_FILE, ca_pem.as_str()),
        (MEMBER_CERT_FILE, member.cert_pem.as_str()),
        (MEMBER_KEY_FILE, member.key_pem.as_str()),
    ] {
        let path = args.out.join(file);
        private_fs::write(&path, content.as_bytes()).map_err(io(&path))?;
    }
    let entry = IndexEntry {
        name: member.identity.name.clone(),
        role: member.identity.role,
        serial: member.identity.serial_hex(),
        not_after: member.not_after.clone(),
        revoked: false,
    };
    let mut index = Index::load(&args.ca)?;
    index.certificates.push(entry.clone());
    index.save(&args.ca)?;
    Ok(entry)
}

/// `cinder cert revoke`: returns the entries revoked now and the path of the new list.
pub fn revoke(args: &CertRevokeArgs) -> Result<(Vec<IndexEntry>, PathBuf)> {
    let ca_key = read_ca_key(&args.ca)?;
    let mut index = Index::load(&args.ca)?;
    let wanted = args.serial.as_deref().map(str::to_ascii_lowercase);
    let mut revoked = Vec::new();
    for entry in index.certificates.iter_mut() {
        let serial_matches = wanted.as_deref().is_none_or(|s| s == entry.serial);
        if entry.name == args.name && serial_matches && !entry.revoked {
            entry.revoked = true;
            revoked.push(entry.clone());
        }
    }
    if revoked.is_empty() {
        return Err(Error::Input(format!(
            "no unrevoked certificate of {:?}{} in {}",
            args.name,
            wanted
                .map(|s| format!(" with serial {s}"))
                .unwrap_or_default(),
            args.ca.join(INDEX_FILE).display()
        )));
    }
    let serials = index
        .certificates
        .iter()
        .filter(|e| e.revoked)
        .map(|e| unhex(&e.serial))
        .collect::<Result<Vec<_>>>()?;
    index.crl_number += 1;
    let crl = authority::revocation_list(&ca_key, &serials, index.crl_number)?;
    let crl_path = args.ca.join(CRL_FILE);
    write_atomic(&crl_path, crl.as_bytes())?;
    index.save(&args.ca)?;
    Ok((revoked, crl_path))
}

fn read_ca_key(ca_dir: &Path) -> Result<String> {
    let path = ca_dir.join(CA_KEY_FILE);
    if !path.exists() {
        return Err(Error::Input(format!(
            "{} not found: --ca must be the CA directory written by `cinder init`",
            path.display()
        )));
    }
    read(&path)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn write_atomic(path: &Path, content: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    private_fs::write(&tmp, content).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn unhex(text: &str) -> Result<Vec<u8>> {
    let bad = || Error::Input(format!("malformed serial {text:?} in the index"));
    if text.len() % 2 != 0 {
        return Err(bad());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|_| bad()))
        .collect::<Result<Vec<u8>>>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cinder_actors::transport::identity::hex;

    #[test]
    fn serials_round_trip_through_hex() {
        let bytes = vec![0x01, 0xab, 0x00, 0xff];
        assert_eq!(unhex(&hex(&bytes)).unwrap(), bytes);
        assert!(unhex("abc").is_err());
        assert!(unhex("zz").is_err());
    }
}
