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

/// The configured tokens, each with its role.
#[derive(Clone)]
pub struct Tokens {
    entries: Arc<Vec<(Vec<u8>, Role)>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("count", &self.entries.len())
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
        }
    }

    /// Adds a token (used for the generated admin token).
    pub fn with(mut self, token: &str, role: Role) -> Self {
        let mut entries = (*self.entries).clone();
        entries.push((token.as_bytes().to_vec(), role));
        self.entries = Arc::new(entries);
        self
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The role a token grants. Every configured token is compared in constant time, so the timing tells nothing
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
/// `401` with `WWW-Authenticate: Bearer`; a lower role → `403`.
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
        let role = state
            .tokens()
            .role_of_headers(&parts.headers)
            .ok_or(AppError::Unauthorized)?;
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
        });
        assert_eq!(t.role_of("viewer-token"), Some(Role::View));
        assert_eq!(t.role_of("control-token"), Some(Role::Control));
        assert_eq!(t.role_of("admin-token-1"), Some(Role::Admin));
        assert_eq!(t.role_of("admin-token-"), None);
        assert_eq!(t.role_of(""), None);
        let t = t.with("generated-1234", Role::Admin);
        assert_eq!(t.role_of("generated-1234"), Some(Role::Admin));
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
