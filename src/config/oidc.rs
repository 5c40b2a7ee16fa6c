//! The OpenID provider's settings (`OIDC_*`): Keycloak, Entra ID, Google,
//! Okta, Feishu's or DingTalk's OpenID Connect, or any other.

use anyhow::bail;

use super::var;

/// `OIDC_ISSUER` set (with `OIDC_CLIENT_ID`): a "Sign in with …" button
/// on the sign-in page, the authorization code flow with PKCE. The rest:
/// - `OIDC_CLIENT_SECRET`: sent to the token endpoint (HTTP Basic);
///   without it the client is public and PKCE alone binds the code.
/// - `OIDC_NAME` (`OpenID`): what the button says after "Sign in with".
/// - `OIDC_SCOPES` (`openid email profile`): asked for; `openid` is
///   always added.
/// - `OIDC_USERNAME_CLAIM` (`preferred_username`): the username; else
///   the part of the email before `@`.
/// - `OIDC_GROUPS_CLAIM` (`groups`): group names, mapped to roles like
///   directory groups (as `oidc:<name>`, so no claim can pass for a
///   directory group).
/// - `OIDC_ALLOWED_DOMAINS` (unset: any the provider vouches for): email
///   domains, comma-separated, whose people may sign in; required for
///   Google, whose accounts are anyone's.
///
/// The provider redirects back to `BASE_URL/sign-in/oidc/callback`.
#[derive(Clone)]
pub struct OidcConfig {
    /// Without a trailing slash.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub name: String,
    pub scopes: String,
    pub username_claim: String,
    pub groups_claim: String,
    /// Lower-cased; empty: any.
    pub allowed_domains: Vec<String>,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl OidcConfig {
    /// The usual settings for a provider at `issuer`.
    pub fn new(issuer: &str, client_id: &str, client_secret: Option<&str>) -> OidcConfig {
        OidcConfig {
            issuer: issuer.trim().trim_end_matches('/').to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.map(str::to_string),
            name: "OpenID".into(),
            scopes: "openid email profile".into(),
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            allowed_domains: Vec::new(),
        }
    }

    pub(super) fn from_env() -> anyhow::Result<Option<OidcConfig>> {
        let Some(issuer) = var("OIDC_ISSUER") else {
            return Ok(None);
        };
        let issuer = issuer.trim().to_string();
        let local = ["http://127.", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| issuer.starts_with(p));
        if !(issuer.starts_with("https://") || local) {
            bail!(
                "OIDC_ISSUER must start with https:// (or http:// on this machine), not {issuer:?}"
            );
        }
        let Some(client_id) = var("OIDC_CLIENT_ID") else {
            bail!("OIDC_CLIENT_ID must be set with OIDC_ISSUER");
        };
        let secret = std::env::var("OIDC_CLIENT_SECRET")
            .ok()
            .filter(|s| !s.is_empty());
        let mut config = OidcConfig::new(&issuer, client_id.trim(), secret.as_deref());
        if let Some(name) = var("OIDC_NAME") {
            config.name = name.trim().to_string();
        }
        if let Some(scopes) = var("OIDC_SCOPES") {
            config.scopes = scopes.trim().to_string();
        }
        if !config.scopes.split_whitespace().any(|s| s == "openid") {
            config.scopes = format!("openid {}", config.scopes);
        }
        if let Some(claim) = var("OIDC_USERNAME_CLAIM") {
            config.username_claim = claim.trim().to_string();
        }
        if let Some(claim) = var("OIDC_GROUPS_CLAIM") {
            config.groups_claim = claim.trim().to_string();
        }
        if let Some(domains) = var("OIDC_ALLOWED_DOMAINS") {
            config.allowed_domains = domains
                .split(',')
                .map(|d| d.trim().trim_start_matches('@').to_lowercase())
                .filter(|d| !d.is_empty())
                .collect();
        }
        if config.issuer == "https://accounts.google.com" && config.allowed_domains.is_empty() {
            bail!(
                "with Google as OIDC_ISSUER, OIDC_ALLOWED_DOMAINS must name your company's domains: any Google account could sign in otherwise"
            );
        }
        Ok(Some(config))
    }
}
