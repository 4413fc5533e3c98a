//! Canary secrets (honeytokens): fake credentials planted where an
//! exfiltrating step looks, unique per task, and the matcher that finds them
//! again in what the task writes or sends.
//!
//! Guarantees:
//! - [`Canaries::generate`] draws every value from the operating system's
//!   random source (a failure is an error, never a weaker value); two tasks
//!   never share a value but by chance (≥ 200 random bits each).
//! - A canary variable is planted only under a name the policy neither passes
//!   through nor sets ([`Canaries::generate`]), so a variable the task was
//!   meant to see is never replaced.
//! - [`plants`] is the one answer to whether a task gets canaries, on every
//!   backend: the jail, and the containers through their in-container
//!   supervisor (which is the jail's code; the values reach it in a file that
//!   it removes before the task exists: `crate::inner`).
//! - Only [`Canaries::digests`] (SHA-256 of each watched value) leave the
//!   process that planted them; the values themselves go to the jail's init
//!   over its private control socket (in a container, through the handoff
//!   above) and nowhere else.
//! - [`Scrubber`] passes every byte of a stream but the watched values, in
//!   order, and replaces each occurrence of one by [`REPLACEMENT`] however
//!   the stream is cut into chunks; it holds back at most the longest value's
//!   length minus one byte, and only while those bytes could begin a value.
//! - [`scrub_text`] is the one function that takes the values out of any text
//!   orchestra writes about what the task did (violation details, the
//!   workspace diff's paths and link targets: [`scrub_details`],
//!   [`scrub_changes`]), so a value the task put in a name reaches neither
//!   the report nor the audit log.
//! - What the task leaves in its workspace is judged after it by
//!   [`workspace`]; what it sends, by the supervisor (`jail::payload`); both
//!   search with [`Matcher`].

mod matcher;
pub mod workspace;

pub use matcher::{Matcher, Searched};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a canary value found in the task's output becomes.
pub const REPLACEMENT: &[u8] = b"[canary]";

/// Where canary files go, relative to the task's home (`~/`).
pub const AWS_CREDENTIALS: &str = ".aws/credentials";
/// The fake SSH private key, relative to the task's home.
pub const SSH_KEY: &str = ".ssh/id_ed25519";

/// One watched value and where it was planted (`~/.aws/credentials`,
/// `$GITHUB_TOKEN`): what a report names, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Where it was planted.
    pub source: String,
    /// The value.
    pub value: String,
}

/// A canary file: its path relative to the task's home, and its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryFile {
    /// Path below the home directory (`.aws/credentials`).
    pub rel: String,
    /// The whole file.
    pub content: String,
}

/// Every canary of one task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canaries {
    /// Files to plant below the home directory.
    pub files: Vec<CanaryFile>,
    /// Variables to add to the task's environment.
    pub env: Vec<(String, String)>,
    /// The values watched for (each file's secrets, each secret variable).
    pub tokens: Vec<Token>,
}

/// Canary values could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    /// The operating system's random source failed.
    #[error("random source for canary secrets: {0}")]
    Random(getrandom::Error),
}

/// Letters and digits: what tokens of the imitated kinds are made of, and
/// nothing a shell, a URL or a JSON string would escape.
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `n` random characters of `alphabet` (rejection sampling: uniform).
fn random_text(alphabet: &[u8], n: usize) -> Result<String, CanaryError> {
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::getrandom(&mut buf).map_err(CanaryError::Random)?;
        for &b in buf.iter().filter(|b| usize::from(**b) < limit) {
            if out.len() == n {
                break;
            }
            out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
        }
    }
    Ok(out)
}

/// Whether a task under `policy` gets canaries: the policy asks for them
/// (`canaries: true`) and its backend has something to plant and watch them
/// with — the jail, or a container's in-container supervisor
/// (`container.supervisor: required`). Otherwise none are generated, and the
/// report says why (`crate::outcome::opt_outs`).
pub fn plants(policy: &crate::policy::Policy) -> bool {
    use crate::policy::{SandboxMode, SupervisorMode};
    policy.canaries
        && match policy.backend() {
            SandboxMode::Jail => true,
            SandboxMode::Docker | SandboxMode::Podman => policy.container.supervisor == SupervisorMode::Required,
        }
}

/// Whether the policy passes `name` through or sets it.
fn policy_names(env: &crate::policy::Environment, name: &str) -> bool {
    env.set.contains_key(name)
        || env.passthrough.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => p == name,
        })
}

/// The first line of every unencrypted OpenSSH key body (`openssh-key-v1`,
/// cipher and KDF `none`, one key): the same in every real key, so never watched.
const OPENSSH_HEADER: &str = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";

impl Canaries {
    /// Fresh canaries for one task under `policy`: both files, and the
    /// variables the policy neither passes through nor sets.
    pub fn generate(policy: &crate::policy::Policy) -> Result<Canaries, CanaryError> {
        let mut c = Canaries::default();
        let key_id = format!("AKIA{}", random_text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)?);
        let secret = random_text(ALNUM, 40)?;
        c.files.push(CanaryFile {
            rel: AWS_CREDENTIALS.into(),
            content: format!("[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"),
        });
        c.tokens.push(Token { source: format!("~/{AWS_CREDENTIALS}"), value: secret });
        let mut lines = vec![OPENSSH_HEADER.to_string()];
        for _ in 0..3 {
            let line = random_text(ALNUM, 70)?;
            c.tokens.push(Token { source: format!("~/{SSH_KEY}"), value: line.clone() });
            lines.push(line);
        }
        c.files.push(CanaryFile {
            rel: SSH_KEY.into(),
            content: format!(
                "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
                lines.join("\n")
            ),
        });
        let env = &policy.environment;
        if !policy_names(env, "AWS_SECRET_ACCESS_KEY") && !policy_names(env, "AWS_ACCESS_KEY_ID") {
            let key_id = format!("AKIA{}", random_text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)?);
            c.env.push(("AWS_ACCESS_KEY_ID".into(), key_id));
            c.plant_var("AWS_SECRET_ACCESS_KEY", random_text(ALNUM, 40)?);
        }
        if !policy_names(env, "GITHUB_TOKEN") {
            c.plant_var("GITHUB_TOKEN", format!("ghp_{}", random_text(ALNUM, 36)?));
        }
        if !policy_names(env, "NPM_TOKEN") {
            c.plant_var("NPM_TOKEN", format!("npm_{}", random_text(ALNUM, 36)?));
        }
        Ok(c)
    }

    fn plant_var(&mut self, name: &str, value: String) {
        self.tokens.push(Token { source: format!("${name}"), value: value.clone() });
        self.env.push((name.into(), value));
    }

    /// `(source, "sha256:HEX")` of every watched value: what the audit log keeps.
    pub fn digests(&self) -> Vec<(String, String)> {
        self.tokens.iter().map(|t| (t.source.clone(), digest(&t.value))).collect()
    }

    /// Where canaries were planted, deduplicated, in order (for the report).
    pub fn sources(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in &self.tokens {
            if !out.contains(&t.source) {
                out.push(t.source.clone());
            }
        }
        out
    }
}

/// `sha256:HEX` of a value.
pub fn digest(value: &str) -> String {
    let d = Sha256::digest(value.as_bytes());
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The first watched value in `payload`, if any.
pub fn find<'t>(tokens: &'t [Token], payload: &[u8]) -> Option<&'t Token> {
    tokens.iter().find(|t| !t.value.is_empty() && memchr::memmem::find(payload, t.value.as_bytes()).is_some())
}

/// `text` with every watched value replaced by [`REPLACEMENT`], and the
/// tokens so replaced (none: `text` unchanged). The one scrubbing rule for
/// whatever orchestra writes about the task's doings.
pub fn scrub_text<'t>(text: &str, tokens: &'t [Token]) -> (String, Vec<&'t Token>) {
    let replacement = String::from_utf8_lossy(REPLACEMENT);
    let mut out = text.to_string();
    let mut named = Vec::new();
    for t in tokens {
        if !t.value.is_empty() && out.contains(&t.value) {
            out = out.replace(&t.value, &replacement);
            named.push(t);
        }
    }
    (out, named)
}

/// Violation details quote what the task named (a path, an address): a
/// watched value there is replaced by [`REPLACEMENT`], so it reaches neither
/// the report, the audit log nor the verdict line, and each value so named is
/// a `canary.leak` of its own (a file named after a token is a way out too).
/// Run again over details already scrubbed, it changes and adds nothing.
pub fn scrub_details(violations: &mut Vec<crate::Violation>, tokens: &[Token]) {
    let mut named: Vec<&Token> = Vec::new();
    for v in violations.iter_mut() {
        let (detail, found) = scrub_text(&v.detail, tokens);
        if found.is_empty() {
            continue;
        }
        v.detail = detail;
        for t in found {
            if !named.contains(&t) {
                named.push(t);
            }
        }
    }
    for t in named {
        violations.push(crate::Violation::now(
            crate::Rule::CanaryLeak,
            format!("a violation's detail named the canary planted as {} (replaced by [canary])", t.source),
        ));
    }
}

/// The workspace diff with every watched value taken out of the text it
/// quotes of the task (paths, link targets, unreadable directories): what
/// the report lists and the audit log's `workspace_changed` record is built
/// from. Whether a value there is a leak is [`workspace::judge`]'s to say.
pub fn scrub_changes(c: &mut crate::changes::WorkspaceChanges, tokens: &[Token]) {
    let scrub = |s: &mut String| {
        let (clean, found) = scrub_text(s, tokens);
        if !found.is_empty() {
            *s = clean;
        }
    };
    for e in &mut c.entries {
        scrub(&mut e.path);
        if let Some(t) = &mut e.target {
            scrub(t);
        }
        if let Some(u) = &mut e.unhashed {
            scrub(u);
        }
    }
    c.unreadable.iter_mut().for_each(scrub);
    if let Some(s) = &mut c.skipped {
        scrub(s);
    }
}

/// One output stream with every watched value replaced by [`REPLACEMENT`].
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    tokens: Vec<Token>,
    /// Bytes held back: they could begin a value.
    held: Vec<u8>,
}

impl Scrubber {
    /// A scrubber for `tokens` (none: every byte passes at once).
    pub fn new(tokens: &[Token]) -> Self {
        Scrubber { tokens: tokens.iter().filter(|t| !t.value.is_empty()).cloned().collect(), held: Vec::new() }
    }

    /// Append to `out` what `chunk` (the next bytes of the stream) becomes;
    /// returns the sources of the values replaced in it.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Vec<String> {
        if self.tokens.is_empty() {
            out.extend_from_slice(chunk);
            return Vec::new();
        }
        let mut data = std::mem::take(&mut self.held);
        data.extend_from_slice(chunk);
        let mut found = Vec::new();
        let mut i = 0;
        let mut copied = 0;
        while i < data.len() {
            let hit = self.tokens.iter().find(|t| data[i..].starts_with(t.value.as_bytes()));
            match hit {
                Some(t) => {
                    out.extend_from_slice(&data[copied..i]);
                    out.extend_from_slice(REPLACEMENT);
                    if !found.contains(&t.source) {
                        found.push(t.source.clone());
                    }
                    i += t.value.len();
                    copied = i;
                }
                None => i += 1,
            }
        }
        // Hold back the longest tail that could still begin a value.
        let tail = &data[copied..];
        let keep = could_begin(&self.tokens, tail);
        out.extend_from_slice(&tail[..tail.len() - keep]);
        self.held = tail[tail.len() - keep..].to_vec();
        found
    }

    /// The stream ended: append whatever was held back (no value: a value
    /// would have been replaced).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.held);
    }
}

/// The length of the longest end of `bytes` that could begin one of the
/// watched values (a proper prefix of one): what a stream must keep to
/// recognise a value its next bytes complete. At most the longest value's
/// length minus one.
pub fn could_begin(tokens: &[Token], bytes: &[u8]) -> usize {
    let longest = tokens.iter().map(|t| t.value.len()).max().unwrap_or(0);
    (1..bytes.len().min(longest).saturating_add(1))
        .rev()
        .find(|&k| {
            let suffix = &bytes[bytes.len() - k..];
            tokens.iter().any(|t| t.value.len() > k && t.value.as_bytes().starts_with(suffix))
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn tok(v: &str) -> Token {
        Token { source: format!("src-{v}"), value: v.into() }
    }

    fn scrub(tokens: &[Token], chunks: &[&[u8]]) -> (Vec<u8>, Vec<String>) {
        let mut s = Scrubber::new(tokens);
        let mut out = Vec::new();
        let mut found = Vec::new();
        for c in chunks {
            found.extend(s.feed(c, &mut out));
        }
        s.finish(&mut out);
        (out, found)
    }

    #[test]
    fn a_value_is_replaced_wherever_the_chunks_split() {
        let tokens = [tok("SECRETVALUE"), tok("ghp_abc")];
        let input = b"x SECRETVALUE y SECRETVALU z ghp_abc\nghp_ab".as_slice();
        let want = b"x [canary] y SECRETVALU z [canary]\nghp_ab".as_slice();
        for split in 0..input.len() {
            let (out, found) = scrub(&tokens, &[&input[..split], &input[split..]]);
            assert_eq!(out, want, "split at {split}");
            assert_eq!(found.len(), 2, "split at {split}: {found:?}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(scrub(&tokens, &bytes).0, want);
    }

    #[test]
    fn other_output_passes_unchanged_and_without_delay() {
        let tokens = [tok("SECRETVALUE")];
        let mut s = Scrubber::new(&tokens);
        let mut out = Vec::new();
        assert!(s.feed(b"hello world\n", &mut out).is_empty());
        assert_eq!(out, b"hello world\n", "nothing that could begin a value is held");
        out.clear();
        s.feed(b"abc SECR", &mut out);
        assert_eq!(out, b"abc ", "only a possible beginning is held");
        s.finish(&mut out);
        assert_eq!(out, b"abc SECR");
        assert_eq!(scrub(&[], &[b"\xff\x00 raw"]).0, b"\xff\x00 raw");
    }

    #[test]
    fn canaries_are_random_unique_and_only_where_the_policy_is_silent() {
        let mut p = Policy::default();
        let a = Canaries::generate(&p).unwrap();
        let b = Canaries::generate(&p).unwrap();
        assert_ne!(a.tokens, b.tokens, "fresh values per task");
        let names: Vec<&str> = a.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "NPM_TOKEN"]);
        for t in &a.tokens {
            assert!(t.value.len() >= 36, "{t:?}");
            assert!(a.files.iter().any(|f| f.content.contains(&t.value)) || a.env.iter().any(|(_, v)| *v == t.value));
        }
        assert!(a.files.iter().any(|f| f.rel == SSH_KEY && f.content.starts_with("-----BEGIN OPENSSH PRIVATE KEY")));
        p.environment.passthrough = vec!["GITHUB_*".into()];
        p.environment.set.insert("NPM_TOKEN".into(), "mine".into());
        let c = Canaries::generate(&p).unwrap();
        assert!(!c.env.iter().any(|(k, _)| k == "GITHUB_TOKEN" || k == "NPM_TOKEN"), "{:?}", c.env);
        let d = c.digests();
        assert_eq!(d.len(), c.tokens.len());
        assert!(d.iter().all(|(_, h)| h.starts_with("sha256:") && h.len() == 71));
        assert!(!d.iter().any(|(_, h)| c.tokens.iter().any(|t| h.contains(&t.value))));
        assert_eq!(find(&c.tokens, format!("x{}y", c.tokens[0].value).as_bytes()), Some(&c.tokens[0]));
        assert_eq!(find(&c.tokens, b"nothing"), None);
    }
}
