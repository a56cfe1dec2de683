//! Bearer-token verification and the rules that turn credentials into a tenant. The roles
//! and the caller it yields are the domain's ([`crm_domain::identity`]).

use chrono::Utc;
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crm_domain::accounts::SessionRef;
use crm_domain::{Role, TenantId};

/// The `iss` of the access tokens this service signs (`POST /api/auth/login/`). A token
/// with it names a session (`sid`) and its caller's membership is checked on every
/// request; any other issuer's token is trusted as it is.
pub const SERVICE_ISSUER: &str = "crm-accounts";

pub mod jwks;

pub use jwks::JwksConfig;

/// JWT settings: HS256 with a shared secret (`JWT_SECRET_KEY`, the original's variable),
/// RS256/ES256 through an outside provider's JWKS when `JWKS_URL` is set, with issuer and
/// audience checked only when configured.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    pub secret: String,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// An outside identity provider's key set (`JWKS_URL`).
    pub jwks: Option<JwksConfig>,
    /// The claims that carry the tenant and the role in outside issuers' tokens.
    pub claims: ClaimNames,
}

impl JwtConfig {
    /// HS256 with `secret`, nothing else configured.
    pub fn hs256(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            issuer: None,
            audience: None,
            jwks: None,
            claims: ClaimNames::default(),
        }
    }
}

/// The names of the tenant and role claims in outside issuers' tokens (`JWT_TENANT_CLAIM`,
/// `JWT_ROLE_CLAIM`; Cognito's custom attributes are `custom:tenant_id` and so on). This
/// service's own tokens always use `tenant_id` and `role`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimNames {
    pub tenant: String,
    pub role: String,
}

pub const DEFAULT_TENANT_CLAIM: &str = "tenant_id";
pub const DEFAULT_ROLE_CLAIM: &str = "role";

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            tenant: DEFAULT_TENANT_CLAIM.into(),
            role: DEFAULT_ROLE_CLAIM.into(),
        }
    }
}

/// The verified identity behind a request.
#[derive(Clone, Debug)]
pub struct Claims {
    pub user_id: String,
    pub tenant_id: TenantId,
    pub role: Role,
    pub email: Option<String>,
    /// The session of an access token of this service; `None` for outside issuers.
    pub session: Option<SessionRef>,
}

/// A verified token, whose tenant or role may still be missing: an outside provider's
/// token need not carry them, and then this service's membership of the user supplies them.
#[derive(Clone, Debug)]
pub struct Verified {
    /// `sub`.
    pub subject: String,
    pub email: Option<String>,
    pub tenant_id: Option<TenantId>,
    pub role: Option<Role>,
    pub session: Option<SessionRef>,
}

impl Verified {
    /// The claims, when the token named both its tenant and its role.
    pub fn complete(self) -> Result<Claims, Self> {
        match (self.tenant_id, self.role) {
            (Some(tenant_id), Some(role)) => Ok(Claims {
                user_id: self.subject,
                tenant_id,
                role,
                email: self.email,
                session: self.session,
            }),
            _ => Err(self),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AuthError {
    #[error("Authentication credentials were not provided.")]
    MissingToken,
    #[error("Given token not valid: {0}")]
    InvalidToken(String),
}

/// Claims as this service signs them.
#[derive(Debug, Serialize, Deserialize)]
struct TokenClaims {
    sub: String,
    tenant_id: String,
    role: String,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    /// The session (refresh-token family) of an access token of this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

/// Claims as they arrive, from any issuer (`exp`, `nbf`, `iss`, `aud` are checked by the
/// validation; the tenant and role claims are looked up by name).
#[derive(Debug, Deserialize)]
struct Incoming {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sid: Option<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// Verifies tokens: HS256 with the shared secret, and RS256/ES256 with the key of the
/// outside provider's JWKS that the token's `kid` names. The header's `alg` picks the key
/// kind, never more: HS256 only ever meets the secret, RS256/ES256 only a JWKS key of that
/// algorithm, so `alg: none`, other algorithms and algorithm confusion (an HS256 token
/// "signed" with a public key, an RS256 header where no JWKS is configured) are refused.
pub struct TokenVerifier {
    secret: DecodingKey,
    hs256: Validation,
    /// RS256 and ES256 validations (one algorithm each: jsonwebtoken checks every allowed
    /// algorithm against the key): the configured issuer only, never this service's.
    rs256: Validation,
    es256: Validation,
    jwks: Option<jwks::KeySet>,
    claims: ClaimNames,
}

fn validation(config: &JwtConfig, alg: Algorithm, issuers: &[&str]) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = 30;
    // `nbf` is optional, but a token that carries one is refused before that time.
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "sub"]);
    match &config.issuer {
        Some(_) => {
            validation.set_issuer(issuers);
            validation.required_spec_claims.insert("iss".into());
        }
        None => validation.iss = None,
    }
    match &config.audience {
        Some(aud) => {
            validation.set_audience(&[aud]);
            validation.required_spec_claims.insert("aud".into());
        }
        None => validation.validate_aud = false,
    }
    validation
}

fn describe(e: &jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind;
    AuthError::InvalidToken(
        match e.kind() {
            ErrorKind::ExpiredSignature => "token has expired",
            ErrorKind::ImmatureSignature => "token is not valid yet",
            ErrorKind::InvalidSignature => "signature does not match",
            ErrorKind::InvalidAlgorithm => "algorithm not allowed",
            ErrorKind::InvalidIssuer => "wrong issuer",
            ErrorKind::InvalidAudience => "wrong audience",
            ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => {
                "missing or malformed claims (sub and exp are required)"
            }
            _ => "malformed token",
        }
        .to_string(),
    )
}

impl TokenVerifier {
    pub fn new(config: &JwtConfig) -> Self {
        let configured: Vec<&str> = config.issuer.iter().map(String::as_str).collect();
        // This service's own tokens are always accepted too (HS256 only).
        let mut ours = configured.clone();
        ours.push(SERVICE_ISSUER);
        Self {
            secret: DecodingKey::from_secret(config.secret.as_bytes()),
            hs256: validation(config, Algorithm::HS256, &ours),
            rs256: validation(config, Algorithm::RS256, &configured),
            es256: validation(config, Algorithm::ES256, &configured),
            jwks: config.jwks.clone().map(jwks::KeySet::new),
            claims: config.claims.clone(),
        }
    }

    /// Verifies an `Authorization` header value.
    pub async fn verify_header(&self, header: Option<&str>) -> Result<Verified, AuthError> {
        let header = header.map(str::trim).filter(|h| !h.is_empty());
        let header = header.ok_or(AuthError::MissingToken)?;
        let (scheme, token) = header.split_once(' ').ok_or_else(|| {
            AuthError::InvalidToken("expected \"Authorization: Bearer <token>\"".into())
        })?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::InvalidToken(
                "expected \"Authorization: Bearer <token>\"".into(),
            ));
        }
        self.verify(token.trim()).await
    }

    pub async fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        let header = decode_header(token).map_err(|_| {
            AuthError::InvalidToken("malformed token or algorithm not allowed".into())
        })?;
        let claims = match header.alg {
            Algorithm::HS256 => decode::<Incoming>(token, &self.secret, &self.hs256),
            Algorithm::RS256 | Algorithm::ES256 => {
                let jwks = self
                    .jwks
                    .as_ref()
                    .ok_or_else(|| AuthError::InvalidToken("algorithm not allowed".into()))?;
                let kid = header.kid.as_deref().ok_or_else(|| {
                    AuthError::InvalidToken("the token names no signing key (kid)".into())
                })?;
                let key = jwks.key(kid, header.alg).await?;
                let validation = match header.alg {
                    Algorithm::RS256 => &self.rs256,
                    _ => &self.es256,
                };
                let claims = decode::<Incoming>(token, &key, validation);
                if matches!(&claims, Ok(d) if d.claims.iss.as_deref() == Some(SERVICE_ISSUER)) {
                    return Err(AuthError::InvalidToken("wrong issuer".into()));
                }
                claims
            }
            _ => return Err(AuthError::InvalidToken("algorithm not allowed".into())),
        };
        let claims = claims.map_err(|e| describe(&e))?.claims;
        self.verified(claims)
    }

    /// The identity in verified claims: this service's tokens name their session and
    /// always carry `tenant_id` and `role`; outside issuers' may leave them out.
    fn verified(&self, mut c: Incoming) -> Result<Verified, AuthError> {
        if c.sub.trim().is_empty() {
            return Err(AuthError::InvalidToken("sub is empty".into()));
        }
        let ours = c.iss.as_deref() == Some(SERVICE_ISSUER);
        let names = if ours {
            &ClaimNames::default()
        } else {
            &self.claims
        };
        let tenant =
            match claim(&mut c.rest, &names.tenant)? {
                Some(t) => Some(Uuid::parse_str(&t).map_err(|_| {
                    AuthError::InvalidToken(format!("{} is not a UUID", names.tenant))
                })?),
                None => None,
            };
        let role = match claim(&mut c.rest, &names.role)? {
            Some(r) => Some(r.parse::<Role>().map_err(AuthError::InvalidToken)?),
            None => None,
        };
        let session = if ours {
            if tenant.is_none() || role.is_none() {
                return Err(AuthError::InvalidToken(
                    "missing or malformed claims (tenant_id and role are required)".into(),
                ));
            }
            Some(session_of(&c.sub, c.sid.as_deref())?)
        } else {
            None
        };
        // A provider that says the email is not verified does not vouch for it: the
        // membership is then looked up by subject only.
        let unverified = matches!(c.rest.get("email_verified"), Some(Value::Bool(false)))
            || matches!(c.rest.get("email_verified"), Some(Value::String(v)) if v == "false");
        Ok(Verified {
            subject: c.sub,
            email: c.email.filter(|_| !unverified),
            tenant_id: tenant.map(TenantId::from_uuid),
            role,
            session,
        })
    }
}

/// A string claim by name; absent or `null` is `None`, any other type refused.
fn claim(rest: &mut Map<String, Value>, name: &str) -> Result<Option<String>, AuthError> {
    match rest.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(AuthError::InvalidToken(format!("{name} must be a string"))),
    }
}

/// The session an access token of ours names: its user (`sub`) and family (`sid`).
fn session_of(sub: &str, sid: Option<&str>) -> Result<SessionRef, AuthError> {
    let parse = |v: Option<&str>| v.and_then(|v| Uuid::parse_str(v).ok());
    match (parse(Some(sub)), parse(sid)) {
        (Some(user_id), Some(family_id)) => Ok(SessionRef { user_id, family_id }),
        _ => Err(AuthError::InvalidToken(
            "a token of this service needs a user id (sub) and a session (sid)".into(),
        )),
    }
}

/// An access token of this service: a signed-in user's session in one tenant.
pub struct AccessToken<'a> {
    pub session: SessionRef,
    pub tenant_id: Uuid,
    pub role: Role,
    pub email: &'a str,
    pub ttl_seconds: i64,
}

/// Signs an access token of this service (`iss` [`SERVICE_ISSUER`], a new `jti`, the
/// session as `sid`, the configured audience).
pub fn issue_access_token(config: &JwtConfig, token: &AccessToken<'_>) -> String {
    let now = Utc::now().timestamp();
    let claims = TokenClaims {
        sub: token.session.user_id.to_string(),
        tenant_id: token.tenant_id.to_string(),
        role: token.role.as_str().to_string(),
        exp: now + token.ttl_seconds,
        iat: Some(now),
        email: Some(token.email.to_string()),
        iss: Some(SERVICE_ISSUER.to_string()),
        aud: config.audience.clone(),
        jti: Some(Uuid::new_v4().to_string()),
        sid: Some(token.session.family_id.to_string()),
    };
    sign(config, &claims)
}

fn sign(config: &JwtConfig, claims: &TokenClaims) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(config.secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// What the admin command and tests need to mint a token.
pub struct TokenRequest<'a> {
    pub tenant_id: Uuid,
    pub user_id: &'a str,
    pub role: Role,
    pub email: Option<&'a str>,
    pub ttl_seconds: i64,
}

/// Signs an HS256 token carrying the configured issuer and audience.
pub fn issue_token(config: &JwtConfig, req: &TokenRequest<'_>) -> String {
    let now = Utc::now().timestamp();
    let claims = TokenClaims {
        sub: req.user_id.to_string(),
        tenant_id: req.tenant_id.to_string(),
        role: req.role.as_str().to_string(),
        exp: now + req.ttl_seconds,
        iat: Some(now),
        email: req.email.map(str::to_string),
        iss: config.issuer.clone(),
        aud: config.audience.clone(),
        jti: None,
        sid: None,
    };
    sign(config, &claims)
}

/// Why a request's tenant could not be settled.
#[derive(Debug, PartialEq)]
pub enum TenantMismatch {
    MalformedHeader,
    Different,
    /// The request's host (a tenant's subdomain or verified custom domain) names another
    /// tenant than the credentials.
    Host,
}

/// Tenant resolution: the token's `tenant_id` decides; an `X-Tenant-Id` header, and the
/// tenant the request's host names (`host`), may repeat it but never choose another tenant
/// (the original let any user read any tenant that way).
pub fn resolve_tenant(
    claims: &Claims,
    header: Option<&str>,
    host: Option<TenantId>,
) -> Result<TenantId, TenantMismatch> {
    if let Some(raw) = header.map(str::trim).filter(|h| !h.is_empty()) {
        let id = Uuid::parse_str(raw).map_err(|_| TenantMismatch::MalformedHeader)?;
        if id != claims.tenant_id.as_uuid() {
            return Err(TenantMismatch::Different);
        }
    }
    if host.is_some_and(|host| host != claims.tenant_id) {
        return Err(TenantMismatch::Host);
    }
    Ok(claims.tenant_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> JwtConfig {
        JwtConfig::hs256("unit-test-secret-0123456789")
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Owner.at_least(Role::Admin));
        assert!(Role::Manager.at_least(Role::Manager));
        assert!(!Role::User.at_least(Role::Manager));
        assert_eq!("readonly".parse::<Role>(), Ok(Role::Readonly));
        assert!("root".parse::<Role>().is_err());
    }

    #[tokio::test]
    async fn round_trip_and_header_forms() {
        let tenant = Uuid::new_v4();
        let token = issue_token(
            &config(),
            &TokenRequest {
                tenant_id: tenant,
                user_id: "u1",
                role: Role::Manager,
                email: None,
                ttl_seconds: 60,
            },
        );
        let v = TokenVerifier::new(&config());
        let c = v
            .verify_header(Some(&format!("Bearer {token}")))
            .await
            .unwrap();
        assert_eq!(c.tenant_id.map(|t| t.as_uuid()), Some(tenant));
        assert_eq!(c.role, Some(Role::Manager));
        assert_eq!(
            v.verify_header(None).await.unwrap_err(),
            AuthError::MissingToken
        );
        assert!(v
            .verify_header(Some(&format!("Token {token}")))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn tokens_of_this_service_name_their_session() {
        let session = SessionRef {
            user_id: Uuid::new_v4(),
            family_id: Uuid::new_v4(),
        };
        let mut config = config();
        let token = issue_access_token(
            &config,
            &AccessToken {
                session,
                tenant_id: Uuid::new_v4(),
                role: Role::Admin,
                email: "a@b.co",
                ttl_seconds: 60,
            },
        );
        let claims = TokenVerifier::new(&config).verify(&token).await.unwrap();
        assert_eq!(claims.session, Some(session));
        assert_eq!(claims.subject, session.user_id.to_string());
        // An outside issuer configured: ours are still accepted.
        config.issuer = Some("https://idp.example".into());
        assert!(TokenVerifier::new(&config).verify(&token).await.is_ok());
        // Without a session, a token claiming our issuer is refused.
        let forged = sign(
            &config,
            &TokenClaims {
                sub: "u1".into(),
                tenant_id: Uuid::new_v4().to_string(),
                role: "owner".into(),
                exp: Utc::now().timestamp() + 60,
                iat: None,
                email: None,
                iss: Some(SERVICE_ISSUER.into()),
                aud: None,
                jti: None,
                sid: None,
            },
        );
        assert!(TokenVerifier::new(&config).verify(&forged).await.is_err());
    }

    #[tokio::test]
    async fn a_token_not_valid_yet_is_refused() {
        let now = Utc::now().timestamp();
        let sign = |nbf: i64| {
            encode(
                &Header::new(Algorithm::HS256),
                &serde_json::json!({
                    "sub": "u1",
                    "tenant_id": Uuid::new_v4().to_string(),
                    "role": "owner",
                    "exp": now + 7200,
                    "nbf": nbf,
                }),
                &EncodingKey::from_secret(config().secret.as_bytes()),
            )
            .unwrap()
        };
        let v = TokenVerifier::new(&config());
        assert!(v.verify(&sign(now - 60)).await.is_ok());
        // Within the leeway, a clock a little ahead of ours is tolerated.
        assert!(v.verify(&sign(now + 10)).await.is_ok());
        assert_eq!(
            v.verify(&sign(now + 3600)).await.unwrap_err(),
            AuthError::InvalidToken("token is not valid yet".into())
        );
    }
}
