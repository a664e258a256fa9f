//! TLS to PostgreSQL: whom a connection trusts, and what a failed
//! handshake is reported as. rustls (its `ring` provider, as reqwest's)
//! verifies every certificate, chain and host name alike, against the
//! system's roots (the platform store, through `rustls-native-certs`) plus
//! the CA certificates of an optional PEM file (`--database-ca`): a
//! certificate that does not verify ends the connection, it is never
//! accepted on trust. Whether TLS is used at all is the `sslmode` of the
//! database URL (`storage::postgres`).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use rustls::{CertificateError, ClientConfig, RootCertStore};

use crate::{Error, Result};

/// The CA certificates of a PEM file: at least one, each a well-formed
/// X.509 certificate that can be a trust anchor.
///
/// # Errors
/// A file that cannot be read, holds no `CERTIFICATE` block, or holds one
/// that does not decode.
pub(crate) fn ca_file_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let what = || format!("the database CA file {}", path.display());
    let pem = std::fs::read(path).map_err(|e| Error::storage(what(), e))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::storage(what(), format!("not a PEM file ({e})")))?;
    if certs.is_empty() {
        return Err(Error::storage(
            what(),
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    // Each one must be a usable trust anchor: a garbage block is an error
    // here, not a root that silently never matches.
    let mut check = RootCertStore::empty();
    for (n, cert) in (1..).zip(&certs) {
        check
            .add(cert.clone())
            .map_err(|e| Error::storage(what(), format!("certificate {n} is not valid: {e}")))?;
    }
    Ok(certs)
}

/// The client settings of TLS connections to PostgreSQL: the system's
/// roots plus those of `ca_file`.
///
/// # Errors
/// A bad CA file ([`ca_file_roots`]); no trust anchor at all (no system
/// roots and no CA file).
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(system.certs);
    if added == 0 && !system.errors.is_empty() {
        tracing::warn!(
            error = %system.errors[0],
            "the system's CA certificates could not be read; only --database-ca is trusted"
        );
    }
    if let Some(path) = ca_file {
        for cert in ca_file_roots(path)? {
            roots.add(cert).map_err(|e| {
                Error::storage(format!("the database CA file {}", path.display()), e)
            })?;
        }
    }
    if roots.is_empty() {
        return Err(Error::storage(
            "TLS to PostgreSQL",
            "no CA certificate to verify the server with: the system has none (install \
             ca-certificates) and no --database-ca file was given",
        ));
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::storage("TLS to PostgreSQL", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(config)
}

/// What went wrong in a TLS handshake, in words, if `e` (or an error it
/// wraps) is a rustls error.
pub(crate) fn handshake_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(e) = next {
        let tls = e.downcast_ref::<rustls::Error>().or_else(|| {
            // tokio-rustls wraps the rustls error in an io::Error, whose
            // `source` skips it.
            e.downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            return Some(describe(tls));
        }
        next = e.source();
    }
    None
}

fn describe(e: &rustls::Error) -> String {
    let hint = "give the CA certificate that signed it with --database-ca \
                (STATEANCHOR_DATABASE_CA), or see docs/postgres-and-object-storage.md";
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => {
                format!("the server's TLS certificate is not signed by a trusted CA ({e}): {hint}")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "the server's TLS certificate is not valid for the host name of the \
                     database URL ({e})"
                )
            }
            CertificateError::BadSignature | CertificateError::BadEncoding => {
                format!("the server's TLS certificate is not trusted ({e}): {hint}")
            }
            _ => format!("the server's TLS certificate was refused ({e})"),
        },
        _ => format!("the TLS handshake failed ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error with its causes, as the binary prints it.
    fn chain(e: &Error) -> String {
        let mut out = e.to_string();
        let mut next = std::error::Error::source(e);
        while let Some(e) = next {
            out.push_str(&format!(": {e}"));
            next = e.source();
        }
        out
    }

    #[test]
    fn a_bad_ca_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        let err = |content: &[u8]| {
            std::fs::write(&path, content).unwrap();
            chain(&ca_file_roots(&path).unwrap_err())
        };
        let e = err(b"not a certificate\n");
        assert!(e.contains("holds no PEM certificate"), "{e}");
        assert!(e.contains("ca.pem"), "{e}");
        let e = err(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        assert!(e.contains("certificate 1 is not valid"), "{e}");
        let e = err(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
        assert!(e.contains("not a PEM file"), "{e}");
        let missing = dir.path().join("missing.pem");
        let e = chain(&ca_file_roots(&missing).unwrap_err());
        assert!(e.contains("missing.pem"), "{e}");
    }

    #[test]
    fn a_handshake_failure_is_found_inside_an_io_error() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let said = handshake_failure(&io).unwrap();
        assert!(said.contains("not signed by a trusted CA"), "{said}");
        assert!(said.contains("--database-ca"), "{said}");
        let other = std::io::Error::other("connection reset");
        assert_eq!(handshake_failure(&other), None);
    }
}
