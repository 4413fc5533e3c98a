//! The Anthropic Messages API backend: `POST {base_url}/v1/messages`.
//!
//! Guarantees: the key is read from the configured environment variable
//! (default `ANTHROPIC_API_KEY`) at call time and sent only in the `x-api-key`
//! header; an unset variable makes the backend unavailable.

use super::http::{HttpOptions, post_json};
use super::prompt::Conversation;
use super::{Backend, BackendError};

/// The API version header sent.
pub const API_VERSION: &str = "2023-06-01";

/// The Anthropic backend.
#[derive(Debug, Clone)]
pub struct Anthropic {
    /// Name in messages.
    pub name: String,
    /// API base (default `https://api.anthropic.com`).
    pub base_url: String,
    /// Model.
    pub model: String,
    /// Variable holding the key.
    pub api_key_env: String,
    /// `max_tokens`.
    pub max_tokens: u32,
    /// HTTP behaviour.
    pub http: HttpOptions,
}

impl Backend for Anthropic {
    fn name(&self) -> &str {
        &self.name
    }

    fn complete(&self, conv: &Conversation) -> Result<String, BackendError> {
        let key = super::read_key(&self.api_key_env)?;
        let headers = vec![("x-api-key", key), ("anthropic-version", API_VERSION.to_string())];
        let messages: Vec<serde_json::Value> =
            conv.messages.iter().map(|m| serde_json::json!({"role": m.role.as_str(), "content": m.content})).collect();
        let body = serde_json::json!({
            "model": self.model, "max_tokens": self.max_tokens, "system": conv.system,
            "messages": messages, "temperature": 0,
        });
        let url = format!("{}/v1/messages", self.base_url.trim_end_matches('/'));
        let answer = post_json(&url, &headers, &body, &self.http)?;
        let text: Vec<&str> = answer["content"]
            .as_array()
            .map(|blocks| blocks.iter().filter(|b| b["type"] == "text").filter_map(|b| b["text"].as_str()).collect())
            .unwrap_or_default();
        if text.is_empty() {
            return Err(BackendError::BadResponse(format!("{url}: no text block in the answer's content")));
        }
        Ok(text.join(""))
    }
}
