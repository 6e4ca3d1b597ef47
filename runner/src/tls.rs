//! TLS for `mqtts://` and `wss://`: rustls (with ring), the system's root certificates unless
//! `--cafile` names others, and a client certificate with `--cert` and `--key` (brokers that
//! authenticate devices by certificate). Read once, before anything connects: a file that
//! cannot be read is a bad flag.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// What a TLS connection needs: the configuration every connection shares, and the name the
/// broker's certificate must carry (the URL's host, a DNS name or an IP address).
#[derive(Clone)]
pub struct Tls {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tls({:?})", self.server_name)
    }
}

/// Targets compare by the name checked; the configuration is shared, not compared.
impl PartialEq for Tls {
    fn eq(&self, other: &Self) -> bool {
        self.server_name == other.server_name
    }
}

impl Eq for Tls {}

/// The TLS files given on the command line.
#[derive(Debug, Default)]
pub struct Files {
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

impl Files {
    /// Takes `--cafile`, `--cert` or `--key` (`flag` without its dashes); a file given twice
    /// is a bad flag.
    pub fn set(&mut self, flag: &str, path: String) -> Result<(), String> {
        let slot = match flag {
            "cafile" => &mut self.ca,
            "cert" => &mut self.cert,
            _ => &mut self.key,
        };
        match slot.replace(path) {
            Some(_) => Err(format!("--{flag} is given twice")),
            None => Ok(()),
        }
    }

    /// What is wrong with the files given together, told before any is read: a certificate
    /// without its key, or a key without its certificate.
    pub fn unpaired(&self) -> Option<String> {
        match (&self.cert, &self.key) {
            (Some(_), None) => {
                Some("--cert needs --key (the client certificate's private key)".into())
            }
            (None, Some(_)) => Some("--key needs --cert (the client certificate)".into()),
            _ => None,
        }
    }

    pub fn any(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some()
    }
}

/// The configuration for `host`, or the problems, each naming its flag.
pub fn config(host: &str, files: &Files) -> Result<Tls, Vec<String>> {
    let mut errors = vec![];
    // A host in brackets is an IPv6 address; the name to check is the address.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let server_name = ServerName::try_from(host.to_owned())
        .map_err(|_| {
            errors.push(format!(
                "Broker URL: {host:?} is not a host name TLS can check"
            ))
        })
        .ok();
    let mut roots = rustls::RootCertStore::empty();
    match &files.ca {
        Some(path) => match read_certificates(path) {
            Ok(certificates) => {
                let (added, _) = roots.add_parsable_certificates(certificates);
                if added == 0 {
                    errors.push(format!("--cafile: {path} holds no usable certificate"));
                }
            }
            Err(problem) => errors.push(format!("--cafile: {problem}")),
        },
        None => {
            // The system's store (SSL_CERT_FILE and SSL_CERT_DIR override it, as for OpenSSL).
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                errors.push(
                    "TLS: no system root certificates were found (install ca-certificates, or give the broker's CA with --cafile)"
                        .into(),
                );
            }
        }
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(roots);
    let config = match (&files.cert, &files.key) {
        (None, None) => Some(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let chain = read_certificates(cert)
                .and_then(|chain| {
                    if chain.is_empty() {
                        Err(format!("{cert} holds no certificate"))
                    } else {
                        Ok(chain)
                    }
                })
                .map_err(|problem| errors.push(format!("--cert: {problem}")))
                .ok();
            let key = read_pem(key)
                .and_then(|pem| {
                    PrivateKeyDer::from_pem_slice(&pem)
                        .map_err(|error| format!("cannot read a private key from {key}: {error}"))
                })
                .map_err(|problem| errors.push(format!("--key: {problem}")))
                .ok();
            match (chain, key) {
                (Some(chain), Some(key)) => builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|error| errors.push(format!("--cert and --key: {error}")))
                    .ok(),
                _ => None,
            }
        }
        (Some(_), None) => {
            errors.push("--cert needs --key (the client certificate's private key)".into());
            None
        }
        (None, Some(_)) => {
            errors.push("--key needs --cert (the client certificate)".into());
            None
        }
    };
    match (config, server_name) {
        (Some(config), Some(server_name)) if errors.is_empty() => Ok(Tls {
            config: Arc::new(config),
            server_name,
        }),
        _ => Err(errors),
    }
}

fn read_certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_pem(path)?;
    CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("cannot read certificates from {path}: {error}"))
}

/// A PEM file's bytes: a regular file of at most [`MAX_PEM_BYTES`] (not a device or a pipe,
/// which could be endless).
fn read_pem(path: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let cannot = |error: std::io::Error| format!("cannot read {path}: {error}");
    let file = std::fs::File::open(path).map_err(cannot)?;
    if !file.metadata().map_err(cannot)?.is_file() {
        return Err(format!("{path} is not a regular file"));
    }
    let mut pem = vec![];
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut pem)
        .map_err(cannot)?;
    if pem.len() as u64 > MAX_PEM_BYTES {
        return Err(format!(
            "{path} is over {MAX_PEM_BYTES} bytes: too long for a PEM file of certificates or a key"
        ));
    }
    Ok(pem)
}

/// The system's whole CA bundle is about 200 KB.
const MAX_PEM_BYTES: u64 = 4 * 1024 * 1024;
