//! Bearer-token verification and the rules that turn credentials into a tenant. The roles
//! and the caller it yields are the domain's ([`crm_domain::identity`]).

use chrono::Utc;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crm_domain::accounts::SessionRef;
use crm_domain::{Role, TenantId};

/// The `iss` of the access tokens this service signs (`POST /api/auth/login/`). A token
/// with it names a session (`sid`) and its caller's membership is checked on every
/// request; any other issuer's token is trusted as it is.
pub const SERVICE_ISSUER: &str = "crm-accounts";

/// JWT settings: HS256 with a shared secret (`JWT_SECRET_KEY`, the original's variable),
/// with issuer and audience checked only when configured.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    pub secret: String,
    pub issuer: Option<String>,
    pub audience: Option<String>,
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

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AuthError {
    #[error("Authentication credentials were not provided.")]
    MissingToken,
    #[error("Given token not valid: {0}")]
    InvalidToken(String),
}

/// Claims as they travel in the token.
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

/// Verifies HS256 tokens. Only HS256 is accepted, which rejects `alg: none` and
/// algorithm-confusion tokens (an RS256 header signed with the secret as a "public key").
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    pub fn new(config: &JwtConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 30;
        // `nbf` is optional, but a token that carries one is refused before that time.
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &config.issuer {
            Some(iss) => {
                // This service's own tokens are always accepted too.
                validation.set_issuer(&[iss.as_str(), SERVICE_ISSUER]);
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
        Self {
            key: DecodingKey::from_secret(config.secret.as_bytes()),
            validation,
        }
    }

    /// Verifies an `Authorization` header value.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Claims, AuthError> {
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
        self.verify(token.trim())
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        let data = decode::<TokenClaims>(token, &self.key, &self.validation).map_err(|e| {
            AuthError::InvalidToken(
                match e.kind() {
                    ErrorKind::ExpiredSignature => "token has expired",
                    ErrorKind::ImmatureSignature => "token is not valid yet",
                    ErrorKind::InvalidSignature => "signature does not match",
                    ErrorKind::InvalidAlgorithm => "algorithm not allowed",
                    ErrorKind::InvalidIssuer => "wrong issuer",
                    ErrorKind::InvalidAudience => "wrong audience",
                    ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => {
                        "missing or malformed claims (sub, tenant_id, role and exp are required)"
                    }
                    _ => "malformed token",
                }
                .to_string(),
            )
        })?;
        let c = data.claims;
        let tenant = Uuid::parse_str(&c.tenant_id)
            .map_err(|_| AuthError::InvalidToken("tenant_id is not a UUID".into()))?;
        let role = c.role.parse().map_err(AuthError::InvalidToken)?;
        if c.sub.trim().is_empty() {
            return Err(AuthError::InvalidToken("sub is empty".into()));
        }
        let session = match c.iss.as_deref() {
            Some(SERVICE_ISSUER) => Some(session_of(&c)?),
            _ => None,
        };
        Ok(Claims {
            user_id: c.sub,
            tenant_id: TenantId::from_uuid(tenant),
            role,
            email: c.email,
            session,
        })
    }
}

/// The session an access token of ours names: its user (`sub`) and family (`sid`).
fn session_of(c: &TokenClaims) -> Result<SessionRef, AuthError> {
    let parse = |v: Option<&str>| v.and_then(|v| Uuid::parse_str(v).ok());
    match (parse(Some(&c.sub)), parse(c.sid.as_deref())) {
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
}

/// Tenant resolution: the token's `tenant_id` decides; an `X-Tenant-Id` header may repeat it
/// but never choose another tenant (the original let any user read any tenant that way).
pub fn resolve_tenant(claims: &Claims, header: Option<&str>) -> Result<TenantId, TenantMismatch> {
    if let Some(raw) = header.map(str::trim).filter(|h| !h.is_empty()) {
        let id = Uuid::parse_str(raw).map_err(|_| TenantMismatch::MalformedHeader)?;
        if id != claims.tenant_id.as_uuid() {
            return Err(TenantMismatch::Different);
        }
    }
    Ok(claims.tenant_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> JwtConfig {
        JwtConfig {
            secret: "unit-test-secret-0123456789".into(),
            issuer: None,
            audience: None,
        }
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Owner.at_least(Role::Admin));
        assert!(Role::Manager.at_least(Role::Manager));
        assert!(!Role::User.at_least(Role::Manager));
        assert_eq!("readonly".parse::<Role>(), Ok(Role::Readonly));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn round_trip_and_header_forms() {
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
        let c = v.verify_header(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(c.tenant_id.as_uuid(), tenant);
        assert_eq!(c.role, Role::Manager);
        assert_eq!(v.verify_header(None).unwrap_err(), AuthError::MissingToken);
        assert!(v.verify_header(Some(&format!("Token {token}"))).is_err());
    }

    #[test]
    fn tokens_of_this_service_name_their_session() {
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
        let claims = TokenVerifier::new(&config).verify(&token).unwrap();
        assert_eq!(claims.session, Some(session));
        assert_eq!(claims.user_id, session.user_id.to_string());
        // An outside issuer configured: ours are still accepted.
        config.issuer = Some("https://idp.example".into());
        assert!(TokenVerifier::new(&config).verify(&token).is_ok());
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
        assert!(TokenVerifier::new(&config).verify(&forged).is_err());
    }

    #[test]
    fn a_token_not_valid_yet_is_refused() {
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
        assert!(v.verify(&sign(now - 60)).is_ok());
        // Within the leeway, a clock a little ahead of ours is tolerated.
        assert!(v.verify(&sign(now + 10)).is_ok());
        assert_eq!(
            v.verify(&sign(now + 3600)).unwrap_err(),
            AuthError::InvalidToken("token is not valid yet".into())
        );
    }
}
