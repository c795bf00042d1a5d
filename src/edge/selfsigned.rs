//! The self-signed certificate of `tls.self_signed`: generated once (ECDSA P-256), kept in `self_signed_dir` as
//! `cert.pem` and `key.pem` (key `0600`, directory `0700`), and reused on every start so its fingerprint — what a
//! user compares or a browser remembers — stays the same.
//!
//! A kept certificate is replaced only when it no longer serves: it does not load, expires within [`RENEW_BEFORE`],
//! or lacks one of the names it should carry (`tls.self_signed_names` changed). The replacement is logged with the
//! reason.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;

use crate::config::ConfigError;

/// Validity of a generated certificate: 825 days, the longest Apple platforms accept for a TLS server certificate
/// that a user trusts by hand.
pub const VALIDITY: Duration = Duration::from_secs(825 * 24 * 3600);
/// A kept certificate closer than this to its expiry is replaced at start.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// `notBefore` is set this far in the past, so a device whose clock is slightly behind accepts it.
const BACKDATE: Duration = Duration::from_secs(24 * 3600);

/// The kept files.
#[derive(Debug)]
pub struct Kept {
    /// `DIR/cert.pem`.
    pub cert: PathBuf,
    /// `DIR/key.pem`.
    pub key: PathBuf,
    /// Whether this start generated them.
    pub generated: bool,
}

fn invalid(why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: "tls.self_signed_dir".into(),
        why: why.into(),
    }
}

/// The names the certificate is made for: `localhost`, `127.0.0.1`, `::1`, the listen IP (when not a wildcard),
/// the host name (`NAME` and `NAME.local` for mDNS), then `extra`. Lower-case, without duplicates.
pub fn wanted_names(listen: IpAddr, extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if !listen.is_unspecified() {
        out.push(listen.to_string());
    }
    if let Some(host) = gethostname::gethostname()
        .to_str()
        .map(str::to_ascii_lowercase)
        && !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !host.starts_with(['-', '.'])
    {
        if !host.contains('.') {
            out.push(format!("{host}.local"));
        }
        out.push(host);
    }
    out.extend(extra.iter().map(|n| n.to_ascii_lowercase()));
    let mut seen = BTreeSet::new();
    out.retain(|n| seen.insert(normalize(n)));
    out
}

/// One spelling per name: IPs in their canonical form, DNS names lower-case.
fn normalize(name: &str) -> String {
    match name.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => name.to_ascii_lowercase(),
    }
}

/// Uses the certificate kept in `dir`, or generates (and keeps) one for [`wanted_names`].
pub fn load_or_create(
    dir: &Path,
    listen: IpAddr,
    extra: &[String],
    provider: &CryptoProvider,
) -> Result<Kept, ConfigError> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let names = wanted_names(listen, extra);
    let why_new = if cert.exists() || key.exists() {
        match super::tls::load_pair(&cert, &key, provider) {
            Err(e) => Some(format!("the kept certificate does not load ({e})")),
            Ok((certified, _)) => {
                let der = certified
                    .end_entity_cert()
                    .map(|c| c.as_ref().to_vec())
                    .unwrap_or_default();
                stale(&der, &names, SystemTime::now())
            }
        }
    } else {
        Some("none kept yet".to_owned())
    };
    let Some(why) = why_new else {
        return Ok(Kept {
            cert,
            key,
            generated: false,
        });
    };
    let (cert_pem, key_pem) = generate(&names, SystemTime::now())
        .map_err(|e| invalid(format!("cannot generate a certificate: {e}")))?;
    create_private_dir(dir)?;
    write_atomic(&key, key_pem.as_bytes(), true)?;
    write_atomic(&cert, cert_pem.as_bytes(), false)?;
    tracing::info!(dir = %dir.display(), reason = %why, names = ?names, "generated a self-signed TLS certificate");
    Ok(Kept {
        cert,
        key,
        generated: true,
    })
}

/// Why a kept certificate must be replaced, or `None` when it still serves.
fn stale(der: &[u8], names: &[String], now: SystemTime) -> Option<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Some("the kept certificate does not parse".into());
    };
    let now_s = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if cert.validity().not_after.timestamp() - now_s < RENEW_BEFORE.as_secs() as i64 {
        return Some("the kept certificate expires within 30 days".into());
    }
    let mut has = BTreeSet::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => {
                    has.insert(d.to_ascii_lowercase());
                }
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        has.insert(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !has.contains(&normalize(n)))
        .collect();
    (!missing.is_empty()).then(|| format!("the kept certificate lacks {missing:?}"))
}

/// A new key pair and a certificate for `names`, as PEM (certificate, key).
fn generate(names: &[String], now: SystemTime) -> Result<(String, String), rcgen::Error> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "sightline self-signed");
    params.distinguished_name = dn;
    let now = time::OffsetDateTime::from(now);
    params.not_before = now - BACKDATE;
    params.not_after = now + VALIDITY;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn create_private_dir(dir: &Path) -> Result<(), ConfigError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .map_err(|e| invalid(format!("cannot create {}: {e}", dir.display())))
}

/// Writes through a temporary file and a rename, so a crash never leaves half a key; `private` = mode `0600`.
fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), ConfigError> {
    use std::io::Write as _;
    let tmp = path.with_extension("pem.tmp");
    let fail = |e: std::io::Error| invalid(format!("cannot write {}: {e}", path.display()));
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = opts.open(&tmp).map_err(fail)?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(fail)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "sightline-selfsigned-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn provider() -> CryptoProvider {
        rustls::crypto::ring::default_provider()
    }

    fn fp(kept: &Kept) -> String {
        super::super::tls::load_pair(&kept.cert, &kept.key, &provider())
            .unwrap()
            .1
            .fingerprint
    }

    #[test]
    fn names_cover_loopback_listen_ip_and_extras_once() {
        let n = wanted_names(
            "192.168.1.5".parse().unwrap(),
            &["Box.LAN".into(), "127.0.0.1".into(), "0:0::1".into()],
        );
        assert_eq!(&n[..4], ["localhost", "127.0.0.1", "::1", "192.168.1.5"]);
        assert!(n.contains(&"box.lan".to_owned()));
        assert_eq!(n.iter().filter(|x| x.as_str() == "127.0.0.1").count(), 1);
        assert!(
            !n.contains(&"0:0::1".to_owned()),
            "::1 spelled twice: {n:?}"
        );
        let wildcard = wanted_names("0.0.0.0".parse().unwrap(), &[]);
        assert!(!wildcard.contains(&"0.0.0.0".to_owned()));
    }

    #[test]
    fn generated_once_then_kept_then_replaced_when_names_change() {
        let d = scratch("keep");
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let first = load_or_create(&d, ip, &[], &provider()).unwrap();
        assert!(first.generated);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "key mode {mode:o}");
        }
        let fp_first = fp(&first);
        let again = load_or_create(&d, ip, &[], &provider()).unwrap();
        assert!(!again.generated);
        assert_eq!(fp(&again), fp_first);
        let more = load_or_create(&d, ip, &["phone-lan.example".into()], &provider()).unwrap();
        assert!(more.generated, "a new name needs a new certificate");
        assert_ne!(fp(&more), fp_first);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_broken_kept_file_is_replaced() {
        let d = scratch("broken");
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let first = load_or_create(&d, ip, &[], &provider()).unwrap();
        std::fs::write(&first.cert, "garbage").unwrap();
        let next = load_or_create(&d, ip, &[], &provider()).unwrap();
        assert!(next.generated);
        fp(&next);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn expiring_or_short_certificates_are_stale() {
        use rustls::pki_types::pem::PemObject as _;
        let names = wanted_names("127.0.0.1".parse().unwrap(), &[]);
        let now = SystemTime::now();
        let (pem, _) = generate(&names, now).unwrap();
        let der = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(stale(&der, &names, now), None);
        let later = now + VALIDITY - RENEW_BEFORE / 2;
        assert!(stale(&der, &names, later).is_some());
        let mut more = names.clone();
        more.push("10.1.2.3".into());
        assert!(stale(&der, &more, now).unwrap().contains("10.1.2.3"));
    }
}
