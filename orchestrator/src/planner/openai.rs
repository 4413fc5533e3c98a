//! An OpenAI-compatible chat-completions backend (OpenAI, llama.cpp's server,
//! Ollama, vLLM, ...): `POST {base_url}/chat/completions`.
//!
//! Guarantees: the key is read from the configured environment variable at
//! call time and sent only in the `Authorization` header; without a variable
//! configured no header is sent (local servers); a configured but unset
//! variable makes the backend unavailable (the chain moves on).

use super::http::{HttpOptions, post_json};
use super::prompt::Conversation;
use super::{Backend, BackendError};

/// The OpenAI-compatible backend.
#[derive(Debug, Clone)]
pub struct OpenAi {
    /// Name in messages.
    pub name: String,
    /// API base (`.../v1`).
    pub base_url: String,
    /// Model.
    pub model: String,
    /// Variable holding the key.
    pub api_key_env: Option<String>,
    /// HTTP behaviour.
    pub http: HttpOptions,
}

impl Backend for OpenAi {
    fn name(&self) -> &str {
        &self.name
    }

    fn complete(&self, conv: &Conversation) -> Result<String, BackendError> {
        let mut headers = Vec::new();
        if let Some(var) = &self.api_key_env {
            let key = super::read_key(var)?;
            headers.push(("authorization", format!("Bearer {key}")));
        }
        let mut messages = vec![serde_json::json!({"role": "system", "content": conv.system})];
        for m in &conv.messages {
            messages.push(serde_json::json!({"role": m.role.as_str(), "content": m.content}));
        }
        let body = serde_json::json!({"model": self.model, "messages": messages, "temperature": 0});
        let url = format!("{}/chat/completions", self.base_url.trim_end_matches('/'));
        let answer = post_json(&url, &headers, &body, &self.http)?;
        answer["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| BackendError::BadResponse(format!("{url}: no choices[0].message.content in the answer")))
    }
}
