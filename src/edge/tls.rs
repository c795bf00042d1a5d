//! TLS on the listen address: rustls (ring provider, TLS 1.3, ALPN `http/1.1`) with the certificate behind a
//! [`CertStore`] that swaps in a new certificate without a restart.
//!
//! Where the certificate comes from is [`TlsSource`]: PEM files (`tls.cert`/`tls.key`, polled every
//! [`RELOAD_POLL`] for a changed modification time or size and reloaded; a file that does not load, or a key that
//! does not match the certificate, leaves the served certificate in place and logs an error), or a self-signed
//! certificate that [`super::selfsigned`] generates once and keeps. Every load prints nothing by itself; the caller
//! reads [`CertInfo`] (SHA-256 fingerprint, SPKI hash) and prints it at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use parking_lot::RwLock;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, TlsSource};

/// How often the certificate and key files are checked for a change (two `stat` calls). A renewed certificate is
/// served within this time; a shorter interval only costs more `stat`s.
pub const RELOAD_POLL: Duration = Duration::from_secs(2);
/// Largest certificate or key file read, bytes. A chain is a few KiB; this only keeps a wrong path (a disk image,
/// a device) from being read into memory.
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;
/// A certificate that expires sooner than this is reported (warning) at load.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// What identifies the served certificate, for the ready line, the log and a browser's trust list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// SHA-256 of the leaf certificate (DER) as colon-separated upper-case hex, as browsers show it.
    pub fingerprint: String,
    /// base64 of SHA-256 of the leaf's SubjectPublicKeyInfo (Chromium's `--ignore-certificate-errors-spki-list`,
    /// HPKP-style pins).
    pub spki_sha256: String,
    /// The leaf's expiry, seconds since the Unix epoch (when it parses).
    pub not_after: Option<i64>,
    /// Where it came from: the certificate file's path.
    pub path: PathBuf,
}

/// The served certificate: rustls asks it on every handshake; a reload swaps it.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<(Arc<CertifiedKey>, CertInfo)>,
}

impl CertStore {
    fn new(key: Arc<CertifiedKey>, info: CertInfo) -> Self {
        Self {
            current: RwLock::new((key, info)),
        }
    }

    /// The served certificate's identity.
    pub fn info(&self) -> CertInfo {
        self.current.read().1.clone()
    }

    fn swap(&self, key: Arc<CertifiedKey>, info: CertInfo) {
        *self.current.write() = (key, info);
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().0.clone())
    }
}

/// TLS for one listener: the acceptor and what it serves.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    store: Arc<CertStore>,
    /// The files to watch (`tls.cert`/`tls.key`); `None` for a self-signed certificate (nothing else writes it).
    watch: Option<(PathBuf, PathBuf)>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("store", &self.store)
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// TLS as configured: `None` when `[tls]` is off. Generates the self-signed certificate on first use. The error
    /// names the config key (`tls.cert`, `tls.key`, `tls.self_signed_dir`).
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (cert, key, watch) = match config.tls.source() {
            TlsSource::Off => return Ok(None),
            TlsSource::Files { cert, key } => (cert.clone(), key.clone(), Some((cert, key))),
            TlsSource::SelfSigned { dir, names } => {
                let dir = dir.ok_or_else(|| {
                    invalid(
                        "tls.self_signed_dir",
                        "no data directory found ($XDG_DATA_HOME and $HOME are unset): set it",
                    )
                })?;
                let listen = config.listen_addr()?.ip();
                let kept = super::selfsigned::load_or_create(&dir, listen, &names, &provider)?;
                (kept.cert, kept.key, None)
            }
        };
        let (certified, info) = load_pair(&cert, &key, &provider)?;
        warn_if_expiring(&info);
        let store = Arc::new(CertStore::new(certified, info));
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| anyhow::anyhow!("TLS set-up: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(store.clone());
        // HTTP/1.1 only: WebSocket upgrades need it, and one connection per viewer is all a viewer uses.
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            store,
            watch,
        }))
    }

    /// The acceptor for the accept loop.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// The served certificate's identity.
    pub fn info(&self) -> CertInfo {
        self.store.info()
    }

    /// Polls the certificate and key files every [`RELOAD_POLL`] and swaps in a changed pair that loads; returns at
    /// `shutdown` (at once for a self-signed certificate, which nothing else writes).
    pub async fn watch(&self, shutdown: CancellationToken) {
        let Some((cert, key)) = self.watch.clone() else {
            return;
        };
        let mut last = stamps(&cert, &key);
        let mut tick = tokio::time::interval(RELOAD_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = stamps(&cert, &key);
            if now == last {
                continue;
            }
            // Recorded even when the load fails: one error per change, and the next write (say, the key after
            // the certificate) is a new change that is tried again.
            last = now;
            let (c, k) = (cert.clone(), key.clone());
            let loaded = tokio::task::spawn_blocking(move || {
                let provider = rustls::crypto::ring::default_provider();
                load_pair(&c, &k, &provider)
            })
            .await;
            match loaded {
                Ok(Ok((certified, info))) => {
                    warn_if_expiring(&info);
                    tracing::info!(
                        fingerprint = %info.fingerprint,
                        cert = %info.path.display(),
                        "TLS certificate reloaded"
                    );
                    self.store.swap(certified, info);
                }
                Ok(Err(e)) => tracing::error!(
                    error = %e,
                    "TLS certificate files changed but do not load; still serving the previous certificate"
                ),
                Err(e) => tracing::error!(error = %e, "TLS certificate reload panicked"),
            }
        }
    }
}

/// What a change looks like: each file's modification time and size (`None` while it is missing).
type Stamp = Option<(SystemTime, u64)>;

fn stamps(cert: &Path, key: &Path) -> (Stamp, Stamp) {
    let stamp = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
    };
    (stamp(cert), stamp(key))
}

fn invalid(key: &str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        why: why.into(),
    }
}

/// Reads a PEM file of at most [`MAX_PEM_BYTES`]; the error names `key` and the path.
fn read_pem(key: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(invalid(key, format!("{} is not a file", path.display())));
    }
    if meta.len() > MAX_PEM_BYTES {
        return Err(invalid(
            key,
            format!(
                "{} is {} bytes, larger than any certificate file ({MAX_PEM_BYTES})",
                path.display(),
                meta.len()
            ),
        ));
    }
    std::fs::read(path).map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))
}

/// Loads a certificate chain and its private key from PEM files and checks that they belong together.
pub fn load_pair(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<(Arc<CertifiedKey>, CertInfo), ConfigError> {
    let cert_pem = read_pem("tls.cert", cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid("tls.cert", format!("{}: bad PEM: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(invalid(
            "tls.cert",
            format!("{} holds no PEM certificate", cert.display()),
        ));
    }
    let key_pem = read_pem("tls.key", key)?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        invalid(
            "tls.key",
            format!("{}: no usable PEM private key: {e}", key.display()),
        )
    })?;
    let certified = CertifiedKey::from_der(chain, private, provider).map_err(|e| {
        invalid(
            "tls.key",
            format!(
                "{} does not fit the certificate in {}: {e}",
                key.display(),
                cert.display()
            ),
        )
    })?;
    let leaf = certified.end_entity_cert().map_err(|e| {
        invalid(
            "tls.cert",
            format!("{}: no end-entity certificate: {e}", cert.display()),
        )
    })?;
    let spki = certified
        .key
        .public_key()
        .map(|spki| spki_sha256(spki.as_ref()))
        .unwrap_or_default();
    let info = CertInfo {
        fingerprint: fingerprint(leaf.as_ref()),
        spki_sha256: spki,
        not_after: not_after(leaf.as_ref()),
        path: cert.to_owned(),
    };
    Ok((Arc::new(certified), info))
}

fn warn_if_expiring(info: &CertInfo) {
    let Some(not_after) = info.not_after else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let left = not_after - now;
    if left <= 0 {
        tracing::warn!(cert = %info.path.display(), "the TLS certificate has expired: browsers will refuse it");
    } else if (left as u64) < EXPIRY_WARNING.as_secs() {
        tracing::warn!(
            cert = %info.path.display(),
            days_left = left / 86_400,
            "the TLS certificate expires soon"
        );
    }
}

/// The leaf's `notAfter`, seconds since the Unix epoch.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// SHA-256 of `der` as colon-separated upper-case hex (`AB:CD:…`, 95 characters).
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// base64 (standard, padded) of SHA-256 of a SubjectPublicKeyInfo (DER).
pub fn spki_sha256(spki_der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str, sans: &[&str]) -> (PathBuf, PathBuf, String) {
        let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
        let ck = rcgen::generate_simple_self_signed(sans).unwrap();
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        (cert, key, fingerprint(ck.cert.der()))
    }

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("sightline-tls-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn fingerprint_is_colon_hex_of_sha256() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        assert_eq!(
            fingerprint(b"abc"),
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
        assert_eq!(
            spki_sha256(b"abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    #[test]
    fn a_matching_pair_loads_with_its_identity() {
        let d = scratch("pair");
        let (cert, key, fp) = write_pair(&d, "a", &["localhost"]);
        let provider = rustls::crypto::ring::default_provider();
        let (_, info) = load_pair(&cert, &key, &provider).expect("loads");
        assert_eq!(info.fingerprint, fp);
        assert_eq!(info.spki_sha256.len(), 44);
        assert!(info.not_after.is_some());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn bad_files_name_their_key() {
        let d = scratch("bad");
        let (cert_a, _, _) = write_pair(&d, "a", &["localhost"]);
        let (_, key_b, _) = write_pair(&d, "b", &["localhost"]);
        let provider = rustls::crypto::ring::default_provider();
        let key_of = |r: Result<_, ConfigError>| match r {
            Err(ConfigError::Invalid { key, .. }) => key,
            Err(e) => panic!("unexpected {e}"),
            Ok(_) => panic!("loaded"),
        };
        assert_eq!(
            key_of(load_pair(&cert_a, &key_b, &provider)),
            "tls.key",
            "mismatched key"
        );
        assert_eq!(
            key_of(load_pair(&d.join("missing.crt"), &key_b, &provider)),
            "tls.cert"
        );
        let junk = d.join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        assert_eq!(key_of(load_pair(&junk, &key_b, &provider)), "tls.cert");
        assert_eq!(key_of(load_pair(&cert_a, &junk, &provider)), "tls.key");
        let _ = std::fs::remove_dir_all(&d);
    }
}
