//! What the queue workers share: the store and the AI client, built once per cold start
//! from the environment. Workers need no JWT secret: their input comes from our queues.

use crate::config::{aws_sdk_config, ConfigError};
use crate::insights::{client_for, AiAgentsClient};
use crate::store::Store;

#[derive(Clone)]
pub struct Worker {
    pub store: Store,
    pub ai: Option<AiAgentsClient>,
}

impl Worker {
    pub fn new(store: Store, ai: Option<AiAgentsClient>) -> Self {
        Self { store, ai }
    }

    /// `TABLE_NAME` (required) and `AI_AGENTS_URL` (optional; malformed is logged and
    /// ignored, leaving rule-based insights), with AWS clients from the standard chain.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let table = std::env::var("TABLE_NAME")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or(ConfigError::Missing("TABLE_NAME"))?;
        let sdk = aws_sdk_config().await;
        let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), table);
        let ai = client_for(std::env::var("AI_AGENTS_URL").ok().as_deref());
        Ok(Self { store, ai })
    }
}
