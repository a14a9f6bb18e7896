//! Throwaway certificates for the TLS tests: a private CA and node certificates it signs, for
//! `localhost` and `127.0.0.1`, written as PEM files into a directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ferrocache_control::TlsFiles;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// PEM files of a CA and of one node certificate signed by it.
pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    /// A new CA and a node certificate for `localhost` / `127.0.0.1`, under `dir`.
    pub fn generate(dir: &Path) -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "ferrocache test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let node_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "ferrocache node");
        let node = params.signed_by(&node_key, &ca).unwrap();

        let pki = Pki { ca: dir.join("ca.pem"), cert: dir.join("node.pem"), key: dir.join("node-key.pem") };
        std::fs::write(&pki.ca, ca.pem()).unwrap();
        std::fs::write(&pki.cert, node.pem()).unwrap();
        std::fs::write(&pki.key, node_key.serialize_pem()).unwrap();
        pki
    }

    pub fn files(&self) -> TlsFiles {
        TlsFiles { cert: self.cert.clone(), key: self.key.clone(), ca: Some(self.ca.clone()) }
    }
}
