//! Insights on a lead: recommendations, risks, opportunities and a next best action.
//!
//! They come from the AI agents service when one is configured (`AI_AGENTS_URL`) and
//! answers in time, and otherwise from [`rule_based`], so a lead always has insights and
//! `generated_by` says which produced them. The contract with the service is in
//! `docs/ai-agents-contract.md`; [`AiAgentsClient`] speaks it with a per-attempt timeout,
//! bounded retries with backoff, and validation of what comes back.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crm_domain::insights::*;
use crm_domain::lead::Lead;
use crm_domain::scoring::ScoreCard;

// ---------------------------------------------------------------------------------------
// AI agents client
// ---------------------------------------------------------------------------------------

/// The path of the insights endpoint under `AI_AGENTS_URL`.
pub const INSIGHTS_PATH: &str = "/api/v1/leads/insights";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// First retry delay; doubled per retry, capped at [`MAX_BACKOFF`].
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(200);
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A larger answer is not a list of recommendations: refuse it rather than buffer it.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Bounds on what the service may return, so a misbehaving model cannot flood a lead.
pub const MAX_ITEMS: usize = 20;
pub const MAX_KIND_CHARS: usize = 50;
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// What the worker sends: the tenant, the lead's fields and its current score card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AiInsightRequest {
    pub tenant_id: Uuid,
    pub lead_id: Uuid,
    /// The lead's fields as stored, less bookkeeping and the stored score (the card below
    /// is the current one).
    pub lead: Map<String, Value>,
    pub score_card: ScoreCard,
}

impl AiInsightRequest {
    pub fn new(lead: &Lead, card: &ScoreCard) -> Self {
        let Value::Object(mut fields) = serde_json::to_value(lead).expect("a lead serialises")
        else {
            unreachable!("a struct serialises to an object")
        };
        for internal in [
            "tenant_id",
            "version",
            "created_by",
            "score",
            "score_factors",
            "last_scored_at",
            "score_model",
            "scored_version",
            "edited_version",
        ] {
            fields.remove(internal);
        }
        Self {
            tenant_id: lead.tenant_id.as_uuid(),
            lead_id: lead.id,
            lead: fields,
            score_card: card.clone(),
        }
    }
}

/// The service's answer, before validation.
#[derive(Deserialize)]
struct AiInsightResponse {
    recommendations: Vec<Recommendation>,
    risk_factors: Vec<Risk>,
    opportunities: Vec<Opportunity>,
    next_best_action: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AiError {
    #[error("AI_AGENTS_URL is not a valid http(s) URL: {0}")]
    InvalidUrl(String),
    #[error("could not build the HTTP client: {0}")]
    Client(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("the service answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    #[error("request failed: {0}")]
    Transport(String),
}

impl AiError {
    /// Worth another attempt: the service may be briefly down, slow or overloaded. A 4xx
    /// means our request is wrong and will stay wrong, except 408 and 429, which say
    /// "later". A 200 with an invalid body is a bug in the service, not a blip.
    pub fn is_retryable(&self) -> bool {
        match self {
            AiError::Timeout(_) | AiError::Connect(_) | AiError::Transport(_) => true,
            AiError::Status { status, .. } => *status >= 500 || matches!(status, 408 | 429),
            AiError::InvalidUrl(_) | AiError::Client(_) | AiError::InvalidResponse(_) => false,
        }
    }
}

/// The client for `AI_AGENTS_URL` with the default timeout and retries, or None when the
/// variable is unset. A malformed URL is logged and treated as unset, so the service
/// still answers with rule-based insights.
pub fn client_for(url: Option<&str>) -> Option<AiAgentsClient> {
    let url = url.filter(|u| !u.trim().is_empty())?;
    AiAgentsClient::new(url, DEFAULT_TIMEOUT, DEFAULT_MAX_RETRIES)
        .map_err(
            |e| tracing::error!(error = %e, "AI_AGENTS_URL unusable; rule-based insights only"),
        )
        .ok()
}

/// A client for the AI agents service. Build it once per cold start and share it: it
/// holds a connection pool.
#[derive(Clone, Debug)]
pub struct AiAgentsClient {
    http: reqwest::Client,
    endpoint: url::Url,
    timeout: Duration,
    max_retries: u32,
    backoff: Duration,
    bearer_token: Option<String>,
}

impl AiAgentsClient {
    /// `base_url` is `AI_AGENTS_URL` (a path prefix is kept); `timeout` bounds each attempt
    /// (connect, send and read); `max_retries` is the number of attempts after the first.
    /// Worst case a call takes `(max_retries + 1) * timeout` plus the backoff delays, which
    /// the worker's Lambda timeout must allow for.
    pub fn new(base_url: &str, timeout: Duration, max_retries: u32) -> Result<Self, AiError> {
        let base = base_url.trim().trim_end_matches('/');
        let endpoint = url::Url::parse(&format!("{base}{INSIGHTS_PATH}"))
            .map_err(|e| AiError::InvalidUrl(e.to_string()))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(AiError::InvalidUrl(base.to_string()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            // A redirect would turn the POST into a GET; the endpoint is fixed, so a
            // redirect is a misconfiguration to surface, not to follow.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("crm-insights/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AiError::Client(e.to_string()))?;
        Ok(Self {
            http,
            endpoint,
            timeout,
            max_retries,
            backoff: DEFAULT_BACKOFF,
            bearer_token: None,
        })
    }

    /// The first retry delay (doubled per retry, capped at [`MAX_BACKOFF`]).
    pub fn with_backoff(mut self, first_delay: Duration) -> Self {
        self.backoff = first_delay;
        self
    }

    /// Sends `Authorization: Bearer <token>` when the service requires it.
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// Asks the service for insights, retrying what is worth retrying. The score breakdown
    /// is the request's card: the service advises, it does not rescore.
    pub async fn insights(&self, request: &AiInsightRequest) -> Result<Insights, AiError> {
        let mut attempt = 0;
        loop {
            match self.attempt(request).await {
                Ok(answer) => {
                    return Ok(Insights {
                        score_breakdown: request.score_card.factors.clone(),
                        recommendations: answer.recommendations,
                        risk_factors: answer.risk_factors,
                        opportunities: answer.opportunities,
                        next_best_action: answer.next_best_action,
                        generated_by: AI_SOURCE.into(),
                        generated_at: Utc::now(),
                    })
                }
                Err(e) if e.is_retryable() && attempt < self.max_retries => {
                    let delay = self.delay(attempt);
                    attempt += 1;
                    tracing::warn!(
                        lead_id = %request.lead_id,
                        attempt,
                        error = %e,
                        retry_in_ms = delay.as_millis() as u64,
                        "AI agents call failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Exponential backoff with jitter: half the delay is fixed and half random, so
    /// workers that failed together do not all retry at the same instant.
    fn delay(&self, attempt: u32) -> Duration {
        let full = self
            .backoff
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(MAX_BACKOFF);
        // A randomly keyed hasher is std's cheapest source of randomness.
        let random = RandomState::new().build_hasher().finish();
        let fraction = (random % 1000) as f64 / 1000.0;
        full.mul_f64(0.5 + 0.5 * fraction)
    }

    async fn attempt(&self, request: &AiInsightRequest) -> Result<AiInsightResponse, AiError> {
        let mut builder = self
            .http
            .post(self.endpoint.clone())
            .timeout(self.timeout)
            .header(reqwest::header::ACCEPT, "application/json")
            .header("X-Tenant-Id", request.tenant_id.to_string())
            .json(request);
        if let Some(token) = &self.bearer_token {
            builder = builder.bearer_auth(token);
        }
        let mut response = builder.send().await.map_err(|e| self.classify(e))?;
        let status = response.status();

        // Read the body in chunks so an oversized answer is refused without buffering it;
        // the request timeout still covers the read.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                if !status.is_success() {
                    break;
                }
                return Err(AiError::InvalidResponse(format!(
                    "body larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }

        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(AiError::Status {
                status: status.as_u16(),
                body: text.chars().take(200).collect(),
            });
        }
        let answer: AiInsightResponse =
            serde_json::from_slice(&body).map_err(|e| AiError::InvalidResponse(e.to_string()))?;
        validate(&answer)?;
        Ok(answer)
    }

    fn classify(&self, e: reqwest::Error) -> AiError {
        // A connect timeout is both; report it as the timeout it is.
        if e.is_timeout() {
            AiError::Timeout(self.timeout)
        } else if e.is_connect() {
            AiError::Connect(error_chain(&e))
        } else {
            AiError::Transport(error_chain(&e))
        }
    }
}

/// reqwest's top-level message is generic ("error sending request"); the cause says more.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn validate(answer: &AiInsightResponse) -> Result<(), AiError> {
    let bad = |what: String| Err(AiError::InvalidResponse(what));
    let lists = [
        ("recommendations", answer.recommendations.len()),
        ("risk_factors", answer.risk_factors.len()),
        ("opportunities", answer.opportunities.len()),
    ];
    for (name, len) in lists {
        if len > MAX_ITEMS {
            return bad(format!("{name} has {len} items, more than {MAX_ITEMS}"));
        }
    }
    let items = answer
        .recommendations
        .iter()
        .map(|r| ("recommendations", &r.kind, &r.message))
        .chain(
            answer
                .risk_factors
                .iter()
                .map(|r| ("risk_factors", &r.kind, &r.message)),
        )
        .chain(
            answer
                .opportunities
                .iter()
                .map(|o| ("opportunities", &o.kind, &o.message)),
        );
    for (list, kind, message) in items {
        if kind.trim().is_empty() || kind.chars().count() > MAX_KIND_CHARS {
            return bad(format!(
                "{list}: type must be 1 to {MAX_KIND_CHARS} characters"
            ));
        }
        if message.trim().is_empty() || message.chars().count() > MAX_MESSAGE_CHARS {
            return bad(format!(
                "{list}: message must be 1 to {MAX_MESSAGE_CHARS} characters"
            ));
        }
    }
    let action = answer.next_best_action.trim();
    if action.is_empty() || action.chars().count() > MAX_MESSAGE_CHARS {
        return bad(format!(
            "next_best_action must be 1 to {MAX_MESSAGE_CHARS} characters"
        ));
    }
    Ok(())
}

/// Insights for a lead: from the AI agents service when a client is given and it answers,
/// from the rules otherwise. Never fails; the reason for a fallback is logged.
pub async fn produce(
    lead: &Lead,
    card: &ScoreCard,
    client: Option<&AiAgentsClient>,
    now: DateTime<Utc>,
) -> Insights {
    let Some(client) = client else {
        tracing::debug!(lead_id = %lead.id, "AI_AGENTS_URL unset; rule-based insights");
        return rule_based(lead, card, now);
    };
    match client.insights(&AiInsightRequest::new(lead, card)).await {
        Ok(mut insights) => {
            // The caller's clock, so stored insights and the lead's other times agree.
            insights.generated_at = now;
            insights
        }
        Err(e) => {
            tracing::warn!(
                lead_id = %lead.id,
                tenant_id = %lead.tenant_id,
                error = %e,
                "AI agents service unavailable; falling back to rule-based insights"
            );
            rule_based(lead, card, now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use axum::{Json, Router};
    use crm_domain::fixtures::{card, lead, now};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    // --- client against a local server -------------------------------------------------

    #[derive(Clone)]
    enum Reply {
        Ok,
        Status(u16),
        Sleep(std::time::Duration),
        Raw(&'static str),
    }

    #[derive(Clone)]
    struct Server {
        hits: Arc<AtomicUsize>,
        /// The reply to the n-th request (0-based); the last one repeats.
        script: Arc<Vec<Reply>>,
    }

    fn ok_body() -> Value {
        json!({
            "recommendations": [{"type": "call", "message": "Call today.", "priority": "high"}],
            "risk_factors": [{"type": "budget", "message": "Budget unclear.", "severity": "medium"}],
            "opportunities": [{"type": "upsell", "message": "Wants more seats."}],
            "next_best_action": "Call Grace today.",
            "model": "extra fields are ignored"
        })
    }

    async fn handle(
        State(s): State<Server>,
        headers: HeaderMap,
        Json(req): Json<AiInsightRequest>,
    ) -> Response {
        assert_eq!(headers["x-tenant-id"], req.tenant_id.to_string());
        let n = s.hits.fetch_add(1, Ordering::SeqCst);
        let reply = s.script[n.min(s.script.len() - 1)].clone();
        match reply {
            Reply::Ok => Json(ok_body()).into_response(),
            Reply::Status(code) => (StatusCode::from_u16(code).unwrap(), "nope").into_response(),
            Reply::Sleep(d) => {
                tokio::time::sleep(d).await;
                Json(ok_body()).into_response()
            }
            Reply::Raw(text) => (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                text,
            )
                .into_response(),
        }
    }

    /// Serves the script on 127.0.0.1 (any free port) under a path prefix, as a real
    /// deployment behind a gateway might; returns the base URL and the hit counter.
    async fn serve(script: Vec<Reply>) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let state = Server {
            hits: hits.clone(),
            script: Arc::new(script),
        };
        let app = Router::new()
            .route(&format!("/agents{INSIGHTS_PATH}"), post(handle))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}/agents/"), hits)
    }

    fn client(base: &str, timeout_ms: u64, retries: u32) -> AiAgentsClient {
        AiAgentsClient::new(base, Duration::from_millis(timeout_ms), retries)
            .unwrap()
            .with_backoff(Duration::from_millis(5))
    }

    fn request() -> AiInsightRequest {
        let l = lead();
        AiInsightRequest::new(&l, &card(&l))
    }

    #[tokio::test]
    async fn success() {
        let (base, hits) = serve(vec![Reply::Ok]).await;
        let c = client(&base, 2000, 2);
        assert!(c.endpoint().ends_with("/agents/api/v1/leads/insights"));
        let i = c.insights(&request()).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert_eq!(i.generated_by, AI_SOURCE);
        assert_eq!(i.next_best_action, "Call Grace today.");
        assert_eq!(i.recommendations[0].priority, Level::High);
        assert_eq!(i.risk_factors[0].kind, "budget");
        assert_eq!(i.opportunities[0].message, "Wants more seats.");
        assert_eq!(i.score_breakdown, request().score_card.factors);
    }

    #[tokio::test]
    async fn a_5xx_is_retried() {
        let (base, hits) = serve(vec![Reply::Status(500), Reply::Status(503), Reply::Ok]).await;
        let i = client(&base, 2000, 2).insights(&request()).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 3);
        assert_eq!(i.generated_by, AI_SOURCE);
    }

    #[tokio::test]
    async fn retries_are_bounded() {
        let (base, hits) = serve(vec![Reply::Status(502)]).await;
        let err = client(&base, 2000, 2)
            .insights(&request())
            .await
            .unwrap_err();
        assert!(matches!(err, AiError::Status { status: 502, .. }), "{err}");
        assert_eq!(
            hits.load(Ordering::SeqCst),
            3,
            "one attempt and two retries"
        );
    }

    #[tokio::test]
    async fn a_slow_service_times_out() {
        let slow = Reply::Sleep(std::time::Duration::from_secs(3));
        let (base, hits) = serve(vec![slow]).await;
        let started = std::time::Instant::now();
        let err = client(&base, 150, 1)
            .insights(&request())
            .await
            .unwrap_err();
        assert!(matches!(err, AiError::Timeout(_)), "{err}");
        assert_eq!(hits.load(Ordering::SeqCst), 2, "a timeout is retried once");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_4xx_is_not_retried() {
        let (base, hits) = serve(vec![Reply::Status(400), Reply::Ok]).await;
        let err = client(&base, 2000, 3)
            .insights(&request())
            .await
            .unwrap_err();
        assert!(matches!(err, AiError::Status { status: 400, .. }), "{err}");
        assert!(!err.is_retryable());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_429_is_retried() {
        let (base, hits) = serve(vec![Reply::Status(429), Reply::Ok]).await;
        client(&base, 2000, 1).insights(&request()).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn malformed_or_invalid_answers_are_errors() {
        let cases = [
            "{not json",
            r#"{"recommendations": [], "risk_factors": [], "opportunities": []}"#,
            r#"{"recommendations": [{"type": "x", "message": "m", "priority": "urgent"}],
                "risk_factors": [], "opportunities": [], "next_best_action": "a"}"#,
            r#"{"recommendations": [], "risk_factors": [{"type": "", "message": "m",
                "severity": "low"}], "opportunities": [], "next_best_action": "a"}"#,
            r#"{"recommendations": [], "risk_factors": [], "opportunities": [],
                "next_best_action": "  "}"#,
        ];
        for body in cases {
            let (base, hits) = serve(vec![Reply::Raw(body)]).await;
            let err = client(&base, 2000, 2)
                .insights(&request())
                .await
                .unwrap_err();
            assert!(matches!(err, AiError::InvalidResponse(_)), "{body}: {err}");
            assert_eq!(hits.load(Ordering::SeqCst), 1, "{body}: not retried");
        }
    }

    #[tokio::test]
    async fn an_unreachable_service_is_a_connect_error() {
        // Bind and drop a listener to get a port nothing listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = client(&format!("http://127.0.0.1:{port}"), 1000, 1)
            .insights(&request())
            .await
            .unwrap_err();
        assert!(matches!(err, AiError::Connect(_)), "{err}");
    }

    #[test]
    fn bad_urls_are_refused() {
        for url in ["", "not a url", "ftp://host", "file:///etc"] {
            assert!(
                AiAgentsClient::new(url, DEFAULT_TIMEOUT, DEFAULT_MAX_RETRIES).is_err(),
                "{url}"
            );
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = AiAgentsClient::new("http://localhost:8000", DEFAULT_TIMEOUT, 5).unwrap();
        for attempt in 0..10 {
            let d = c.delay(attempt);
            let full = DEFAULT_BACKOFF
                .saturating_mul(2u32.saturating_pow(attempt))
                .min(MAX_BACKOFF);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
    }

    // --- produce -----------------------------------------------------------------------

    #[tokio::test]
    async fn produce_uses_the_service_when_it_answers() {
        let (base, _) = serve(vec![Reply::Ok]).await;
        let c = client(&base, 2000, 0);
        let l = lead();
        let i = produce(&l, &card(&l), Some(&c), now()).await;
        assert_eq!(i.generated_by, AI_SOURCE);
        assert_eq!(i.generated_at, now());
    }

    #[tokio::test]
    async fn produce_falls_back_to_rules() {
        let l = lead();
        let c = card(&l);
        let expected = rule_based(&l, &c, now());

        let unset = produce(&l, &c, None, now()).await;
        assert_eq!(unset, expected);

        let (base, hits) = serve(vec![Reply::Status(500)]).await;
        let failing = client(&base, 2000, 1);
        let fallback = produce(&l, &c, Some(&failing), now()).await;
        assert_eq!(fallback, expected);
        assert_eq!(fallback.generated_by, RULES_SOURCE);
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }
}
