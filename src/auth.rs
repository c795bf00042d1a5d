//! Tokens and roles: which token grants which [`Role`], compared in constant time, and the axum extractors that
//! guard HTTP routes (`Authorization: Bearer …`).

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use rand::RngCore;
use sightline_signaling::Role;
use subtle::ConstantTimeEq;

use crate::config::AuthConfig;
use crate::control::Action;
use crate::error::AppError;

/// What a device token presented anywhere but the device endpoint is told (`403`).
pub const DEVICE_TOKEN_FORBIDDEN: &str =
    "a device token can only register a device and serve its screens";

/// The configured tokens, each with its role, and the device tokens (`[auth] devices`), which grant no role.
#[derive(Clone)]
pub struct Tokens {
    entries: Arc<Vec<(Vec<u8>, Role)>>,
    devices: Arc<Vec<Vec<u8>>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("count", &self.entries.len())
            .field("devices", &self.devices.len())
            .finish()
    }
}

impl Tokens {
    /// Tokens from `[auth]`.
    pub fn from_config(auth: &AuthConfig) -> Self {
        let mut entries = Vec::new();
        for (list, role) in [
            (&auth.viewers, Role::View),
            (&auth.controllers, Role::Control),
            (&auth.admins, Role::Admin),
        ] {
            entries.extend(list.iter().map(|t| (t.as_bytes().to_vec(), role)));
        }
        Self {
            entries: Arc::new(entries),
            devices: Arc::new(auth.devices.iter().map(|t| t.as_bytes().to_vec()).collect()),
        }
    }

    /// Adds a token (used for the generated admin token).
    pub fn with(mut self, token: &str, role: Role) -> Self {
        let mut entries = (*self.entries).clone();
        entries.push((token.as_bytes().to_vec(), role));
        self.entries = Arc::new(entries);
        self
    }

    /// Whether no role token is configured (device tokens grant no role and do not count).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `[auth] devices` names any device token (without one, no device can register).
    pub fn accepts_devices(&self) -> bool {
        !self.devices.is_empty()
    }

    /// Whether `token` is a device token (`[auth] devices`), compared in constant time against every one.
    pub fn is_device_token(&self, token: &str) -> bool {
        let presented = token.as_bytes();
        let mut found = false;
        for t in self.devices.iter() {
            found |= t.len() == presented.len() && bool::from(t.as_slice().ct_eq(presented));
        }
        found
    }

    /// The refusal for a token that grants no role: `403` with [`DEVICE_TOKEN_FORBIDDEN`] for a device token
    /// (it is valid, just not here), otherwise `401`.
    pub fn refusal(&self, token: Option<&str>) -> AppError {
        match token {
            Some(t) if self.is_device_token(t) => {
                AppError::Forbidden(DEVICE_TOKEN_FORBIDDEN.to_owned())
            }
            _ => AppError::Unauthorized,
        }
    }

    /// The role of a request's bearer token, or the refusal ([`Tokens::refusal`]) when it grants none.
    pub fn check_headers(&self, headers: &HeaderMap) -> Result<Role, AppError> {
        let token = bearer(headers);
        token
            .and_then(|t| self.role_of(t))
            .ok_or_else(|| self.refusal(token))
    }

    /// The role a token grants (never one for a device token). Every configured token is compared in constant time, so the timing tells nothing
    /// about which token (or which prefix) matched.
    pub fn role_of(&self, token: &str) -> Option<Role> {
        let presented = token.as_bytes();
        let mut found = None;
        for (t, role) in self.entries.iter() {
            if t.len() == presented.len() && bool::from(t.as_slice().ct_eq(presented)) {
                found = Some(*role);
            }
        }
        found
    }

    /// The role of a request's `Authorization: Bearer …` header.
    pub fn role_of_headers(&self, headers: &HeaderMap) -> Option<Role> {
        bearer(headers).and_then(|t| self.role_of(t))
    }
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A fresh random token: 128 bits, URL-safe hex.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A minimum role, as a type, for [`Auth`].
pub trait MinRole: Send + Sync + 'static {
    /// The role.
    const ROLE: Role;
}

/// Marker: what [`Action::Watch`] needs (role `view` or above).
#[derive(Debug)]
pub struct Viewer;
/// Marker: what [`Action::Input`] needs (role `control` or above).
#[derive(Debug)]
pub struct Controller;
/// Marker: what [`Action::Operate`] needs (role `admin`).
#[derive(Debug)]
pub struct Admin;

// The markers' roles come from the policy table, so a route guarded by `Auth<Admin>` needs what the table says
// operating the gateway needs.
impl MinRole for Viewer {
    const ROLE: Role = Action::Watch.required_role();
}
impl MinRole for Controller {
    const ROLE: Role = Action::Input.required_role();
}
impl MinRole for Admin {
    const ROLE: Role = Action::Operate.required_role();
}

/// Extractor: the request carries a bearer token whose role is at least `R::ROLE`. Missing or unknown token →
/// `401` with `WWW-Authenticate: Bearer`; a lower role or a device token → `403`.
#[derive(Debug)]
pub struct Auth<R: MinRole> {
    /// The token's role.
    pub role: Role,
    _min: PhantomData<R>,
}

/// What the extractor needs from the app state.
pub trait HasTokens {
    /// The tokens.
    fn tokens(&self) -> &Tokens;
}

impl<S, R> FromRequestParts<S> for Auth<R>
where
    S: HasTokens + Send + Sync,
    R: MinRole,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let role = state.tokens().check_headers(&parts.headers)?;
        if !role.allows(R::ROLE) {
            return Err(AppError::Forbidden(format!("this needs role {}", R::ROLE)));
        }
        Ok(Self {
            role,
            _min: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_by_token() {
        let t = Tokens::from_config(&AuthConfig {
            viewers: vec!["viewer-token".into()],
            controllers: vec!["control-token".into()],
            admins: vec!["admin-token-1".into()],
            devices: vec!["device-token-1".into()],
        });
        assert_eq!(t.role_of("viewer-token"), Some(Role::View));
        assert_eq!(t.role_of("control-token"), Some(Role::Control));
        assert_eq!(t.role_of("admin-token-1"), Some(Role::Admin));
        assert_eq!(t.role_of("admin-token-"), None);
        assert_eq!(t.role_of(""), None);
        assert_eq!(t.role_of("device-token-1"), None);
        assert!(t.is_device_token("device-token-1"));
        assert!(!t.is_device_token("device-token-"));
        assert!(!t.is_device_token("admin-token-1"));
        assert!(t.accepts_devices());
        let t = t.with("generated-1234", Role::Admin);
        assert_eq!(t.role_of("generated-1234"), Some(Role::Admin));
        assert!(t.is_device_token("device-token-1"));
    }

    #[test]
    fn device_tokens_are_forbidden_elsewhere() {
        let t = Tokens::from_config(&AuthConfig {
            viewers: vec!["viewer-token".into()],
            devices: vec!["device-token-1".into()],
            ..AuthConfig::default()
        });
        let mut h = HeaderMap::new();
        assert!(matches!(t.check_headers(&h), Err(AppError::Unauthorized)));
        h.insert(
            header::AUTHORIZATION,
            "Bearer device-token-1".parse().unwrap(),
        );
        match t.check_headers(&h) {
            Err(AppError::Forbidden(m)) => assert_eq!(m, DEVICE_TOKEN_FORBIDDEN),
            other => panic!("{other:?}"),
        }
        h.insert(header::AUTHORIZATION, "Bearer nope-nope".parse().unwrap());
        assert!(matches!(t.check_headers(&h), Err(AppError::Unauthorized)));
        h.insert(
            header::AUTHORIZATION,
            "Bearer viewer-token".parse().unwrap(),
        );
        assert_eq!(t.check_headers(&h).unwrap(), Role::View);
    }

    #[test]
    fn bearer_header_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn generated_tokens_are_unique_and_long() {
        let a = generate_token();
        assert_eq!(a.len(), 32);
        assert_ne!(a, generate_token());
    }
}
