//! Signing in with an OpenID provider: the authorization code flow with
//! PKCE. The provider's settings come from its discovery document; the ID
//! token is checked here — signature with the provider's published keys
//! (fetched again once when a token names a key not seen yet, so a key
//! rotation just works), issuer, audience, expiry on countersign's clock,
//! and the nonce this browser was sent with — before anything in it is
//! believed. Tokens are never logged.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Digest;

use crate::config::OidcConfig;
use crate::i18n::Lang;
use crate::store::company::{Incoming, OIDC};
use crate::store::group_roles::normalize;

/// How long a discovery document is kept before it is read again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// How far a token's expiry may lag countersign's clock (clock skew).
const LEEWAY_SECS: i64 = 60;
/// The algorithms an ID token may be signed with: public-key ones only
/// (never `none`, never a shared secret).
const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The provider could not be asked (unreachable, or answered nonsense).
#[derive(Debug, thiserror::Error)]
#[error("the OpenID provider: {0}")]
pub struct Unavailable(String);

/// Why a sign-in coming back from the provider is refused; each has its
/// own words (`key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The provider said no (the person cancelled, say).
    Denied,
    /// The code was not exchanged (used already, or not ours).
    Exchange,
    /// Signed with a key the provider does not publish.
    UnknownKey,
    /// The signature does not hold, or the token is not a token.
    Signature,
    /// Issued by someone else.
    Issuer,
    /// Meant for another application.
    Audience,
    /// Expired.
    Expired,
    /// Not the answer to this browser's request.
    Nonce,
    /// No usable email address or username.
    Claims,
    /// An email address at a domain `OIDC_ALLOWED_DOMAINS` does not name,
    /// or one the provider has not verified.
    Domain,
}

impl Refused {
    pub fn key(self) -> &'static str {
        match self {
            Refused::Denied => "errors.oidc_denied",
            Refused::Exchange => "errors.oidc_exchange",
            Refused::UnknownKey => "errors.oidc_unknown_key",
            Refused::Signature => "errors.oidc_signature",
            Refused::Issuer => "errors.oidc_issuer",
            Refused::Audience => "errors.oidc_audience",
            Refused::Expired => "errors.oidc_expired",
            Refused::Nonce => "errors.oidc_nonce",
            Refused::Claims => "errors.oidc_claims",
            Refused::Domain => "errors.oidc_domain",
        }
    }
}

/// What a browser keeps in its session between leaving for the provider
/// and coming back: the callback must bring `state` back, and the token
/// must carry `nonce`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub next: String,
}

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
}

#[derive(Default)]
struct Cache {
    discovery: Option<(Instant, Arc<Discovery>)>,
    /// Read again after `DISCOVERY_TTL` too, so a key the provider
    /// withdraws stops being trusted.
    keys: Option<(Instant, Arc<JwkSet>)>,
}

/// The most countersign reads of any answer from the provider.
const MAX_ANSWER: usize = 1 << 20;

/// An OpenID provider as its settings describe it.
pub struct Provider {
    config: OidcConfig,
    http: reqwest::Client,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> Unavailable {
    Unavailable(e.to_string())
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Provider {
    pub fn new(config: OidcConfig) -> anyhow::Result<Provider> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Provider {
            config,
            http,
            cache: Mutex::new(Cache::default()),
        })
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, Unavailable> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(unavailable)?;
        read_json(response).await
    }

    async fn discovery(&self) -> Result<Arc<Discovery>, Unavailable> {
        if let Some((at, d)) = &self.cache().discovery
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(d.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer);
        let found: Discovery = self.get_json(&url).await?;
        if found.issuer.trim_end_matches('/') != self.config.issuer {
            return Err(Unavailable(format!(
                "its discovery document names another issuer, {:?}",
                found.issuer
            )));
        }
        let found = Arc::new(found);
        self.cache().discovery = Some((Instant::now(), found.clone()));
        Ok(found)
    }

    /// The provider's keys: those kept, or read afresh (`fresh`).
    async fn keys(&self, discovery: &Discovery, fresh: bool) -> Result<Arc<JwkSet>, Unavailable> {
        if !fresh
            && let Some((at, keys)) = &self.cache().keys
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(keys.clone());
        }
        let keys: Arc<JwkSet> = Arc::new(self.get_json(&discovery.jwks_uri).await?);
        self.cache().keys = Some((Instant::now(), keys.clone()));
        Ok(keys)
    }

    /// Where to send the browser, and what it keeps until it comes back.
    pub async fn begin(
        &self,
        redirect_uri: &str,
        next: &str,
    ) -> Result<(String, Pending), Unavailable> {
        let discovery = self.discovery().await?;
        let pending = Pending {
            state: crate::token::random_hex::<16>(),
            nonce: crate::token::random_hex::<16>(),
            verifier: crate::token::random_hex::<32>(),
            next: next.to_string(),
        };
        let challenge = base64url(&sha2::Sha256::digest(pending.verifier.as_bytes()));
        let url = reqwest::Url::parse_with_params(
            &discovery.authorization_endpoint,
            &[
                ("response_type", "code"),
                ("client_id", self.config.client_id.as_str()),
                ("redirect_uri", redirect_uri),
                ("scope", self.config.scopes.as_str()),
                ("state", pending.state.as_str()),
                ("nonce", pending.nonce.as_str()),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        )
        .map_err(unavailable)?;
        Ok((url.to_string(), pending))
    }

    /// Exchanges the code the provider sent back, checks the ID token and
    /// reads who the person is. `now` is countersign's clock (seconds).
    pub async fn finish(
        &self,
        pending: &Pending,
        code: &str,
        redirect_uri: &str,
        now: i64,
    ) -> Result<Result<Incoming, Refused>, Unavailable> {
        let discovery = self.discovery().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", pending.verifier.as_str()),
        ];
        let mut request = self.http.post(&discovery.token_endpoint);
        match &self.config.client_secret {
            Some(secret) => request = request.basic_auth(&self.config.client_id, Some(secret)),
            None => form.push(("client_id", self.config.client_id.as_str())),
        }
        let response = request.form(&form).send().await.map_err(unavailable)?;
        if response.status().is_client_error() {
            tracing::info!(status = %response.status(), "the provider refused to exchange a code");
            return Ok(Err(Refused::Exchange));
        }
        let tokens: Map<String, Value> =
            read_json(response.error_for_status().map_err(unavailable)?).await?;
        let Some(id_token) = tokens.get("id_token").and_then(Value::as_str) else {
            return Err(Unavailable("the token response holds no ID token".into()));
        };
        let mut claims = match self.verify(&discovery, id_token, pending, now).await? {
            Ok(claims) => claims,
            Err(refused) => return Ok(Err(refused)),
        };
        // Providers put the scopes' claims in the ID token or only behind
        // the userinfo endpoint; either way they are about the same subject.
        if let (Some(endpoint), Some(access)) = (
            &discovery.userinfo_endpoint,
            tokens.get("access_token").and_then(Value::as_str),
        ) {
            let response = self
                .http
                .get(endpoint)
                .bearer_auth(access)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(unavailable)?;
            // A userinfo answer that is not JSON (a signed one, say) adds
            // nothing; the ID token's claims stand alone.
            let info: Map<String, Value> = read_json(response).await.unwrap_or_default();
            if info.get("sub") == claims.get("sub") {
                for (k, v) in info {
                    claims.entry(k).or_insert(v);
                }
            }
        }
        Ok(self.person(&claims))
    }

    /// The ID token's claims, if it is the provider's answer to this request.
    async fn verify(
        &self,
        discovery: &Discovery,
        token: &str,
        pending: &Pending,
        now: i64,
    ) -> Result<Result<Map<String, Value>, Refused>, Unavailable> {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(Err(Refused::Signature));
        };
        if !ALGORITHMS.contains(&header.alg) {
            return Ok(Err(Refused::Signature));
        }
        let find = |keys: &JwkSet| match &header.kid {
            Some(kid) => keys.find(kid).cloned(),
            None if keys.keys.len() == 1 => keys.keys.first().cloned(),
            None => None,
        };
        let mut key = find(&*self.keys(discovery, false).await?);
        if key.is_none() {
            // A key not seen yet: the provider may have rotated its keys.
            key = find(&*self.keys(discovery, true).await?);
        }
        let Some(jwk) = key else {
            return Ok(Err(Refused::UnknownKey));
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            return Ok(Err(Refused::UnknownKey));
        };
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&discovery.issuer]);
        validation.set_audience(&[&self.config.client_id]);
        // Expiry is checked below on countersign's clock.
        validation.validate_exp = false;
        validation.required_spec_claims = ["iss", "aud", "sub", "exp"]
            .into_iter()
            .map(String::from)
            .collect();
        let claims = match jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation) {
            Ok(data) => data.claims,
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind;
                return Ok(Err(match e.kind() {
                    ErrorKind::InvalidIssuer => Refused::Issuer,
                    ErrorKind::InvalidAudience => Refused::Audience,
                    ErrorKind::ExpiredSignature => Refused::Expired,
                    _ => Refused::Signature,
                }));
            }
        };
        // Whom it was issued to, if it says (and it must with several
        // audiences), is us.
        let several = matches!(claims.get("aud"), Some(Value::Array(a)) if a.len() > 1);
        let azp = claims.get("azp").and_then(Value::as_str);
        if (several || azp.is_some()) && azp != Some(self.config.client_id.as_str()) {
            return Ok(Err(Refused::Audience));
        }
        let seconds = |name: &str| claims.get(name).and_then(Value::as_f64);
        let now = now as f64;
        let leeway = LEEWAY_SECS as f64;
        if seconds("exp").is_none_or(|exp| exp + leeway < now) {
            return Ok(Err(Refused::Expired));
        }
        // Not yet valid, or issued in the future: not an answer to now.
        if seconds("nbf").is_some_and(|nbf| nbf > now + leeway)
            || seconds("iat").is_some_and(|iat| iat > now + leeway)
        {
            return Ok(Err(Refused::Expired));
        }
        let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        let same = subtle::ConstantTimeEq::ct_eq(nonce.as_bytes(), pending.nonce.as_bytes());
        if !bool::from(same) {
            return Ok(Err(Refused::Nonce));
        }
        Ok(Ok(claims))
    }

    /// The person the claims describe, if they may be one here.
    fn person(&self, claims: &Map<String, Value>) -> Result<Incoming, Refused> {
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let subject = text("sub").ok_or(Refused::Claims)?;
        let email = text("email").ok_or(Refused::Claims)?;
        let Some((_, domain)) = email.rsplit_once('@') else {
            return Err(Refused::Claims);
        };
        // An address the person typed but never proved is not theirs to
        // sign in with.
        if claims.get("email_verified") == Some(&Value::Bool(false)) {
            return Err(Refused::Domain);
        }
        let domain = domain.to_lowercase();
        if !self.config.allowed_domains.is_empty() && !self.config.allowed_domains.contains(&domain)
        {
            return Err(Refused::Domain);
        }
        // The claim if it makes a username (Entra ID's is an address: its
        // part before `@`), else the email's part before `@`.
        let usable = |name: String| {
            let name = name.split('@').next().unwrap_or_default().to_lowercase();
            crate::domain::Username::parse(&name)
                .ok()
                .map(|u| u.as_str().to_string())
        };
        let username = text(&self.config.username_claim)
            .and_then(usable)
            .or_else(|| usable(email.clone()))
            .ok_or(Refused::Claims)?;
        let display_name = text("name").unwrap_or_else(|| username.clone());
        // Kept apart from directory groups, so no claim passes for one.
        let group = |name: &str| format!("oidc:{}", normalize(name));
        let mut groups: Vec<String> = match claims.get(&self.config.groups_claim) {
            Some(Value::Array(items)) => {
                items.iter().filter_map(Value::as_str).map(group).collect()
            }
            Some(Value::String(one)) => vec![group(one)],
            _ => Vec::new(),
        };
        groups.sort();
        groups.dedup();
        Ok(Incoming {
            origin: OIDC,
            key: format!("{}#{subject}", self.config.issuer),
            dn: None,
            username,
            display_name,
            email,
            language: text("locale").and_then(|l| Lang::parse(&l)),
            manager: None,
            groups,
        })
    }
}

/// The JSON of an answer, read up to `MAX_ANSWER` bytes.
async fn read_json<T: serde::de::DeserializeOwned>(
    mut response: reqwest::Response,
) -> Result<T, Unavailable> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(Unavailable("an answer larger than a megabyte".into()));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(unavailable)
}
