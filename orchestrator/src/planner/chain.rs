//! The fallback chain: ask each configured backend in order, then the offline
//! planner; accept the first answer that is a valid, whitelisted plan.
//!
//! Guarantees:
//! - every message sent is redacted ([`super::prompt::Redactor`]);
//! - an answer is accepted only if it parses as a plan, passes
//!   [`crate::plan::validate`] and the tool whitelist, and names no policy
//!   outside `planner.allowed_policies` — exactly the checks a plan file
//!   gets, plus the policy rule;
//! - an invalid answer is sent back once with the errors (the repair round);
//!   a second invalid answer, an unavailable backend, an HTTP error or a
//!   timeout moves on to the next backend;
//! - for a replan, the tasks that already succeeded are kept verbatim: the
//!   answer supplies only the remaining tasks, may not reuse a kept id, and
//!   the merged plan is checked as a whole. The offline planner does not
//!   replan.

use super::prompt::{self, Conversation, Message, Redactor, ReplanContext, Role};
use super::settings::{self, BackendConfig, PlannerConfig};
use super::{Backend, OfflinePlanner, Planner};
use crate::plan::tools::Whitelist;
use crate::plan::{self, Dag, Plan, Task};
use std::path::Path;

/// What one backend did with a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attempt {
    /// The backend.
    pub backend: String,
    /// `ok`, `repaired`, or why it was passed over (redacted).
    pub outcome: String,
}

/// A plan the chain accepted.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// The validated, whitelisted plan (for a replan: kept tasks + new ones).
    pub dag: Dag,
    /// The backend that made it.
    pub backend: String,
    /// The origin used in messages (`<openai planner>`).
    pub origin: String,
    /// Every backend asked, in order.
    pub attempts: Vec<Attempt>,
}

/// No backend produced an acceptable plan.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no planner produced an acceptable plan: {}", summary(.attempts))]
pub struct ChainError {
    /// Every backend asked, with why it was passed over.
    pub attempts: Vec<Attempt>,
}

/// Why one backend's plan was passed over (every text in it already redacted).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The backend gave no answer.
    #[error("{0}")]
    Backend(String),
    /// Its plan was refused, and asking for a repair got no answer.
    #[error("refused ({refused}), then on repair: {error}")]
    RepairFailed {
        /// Why the first plan was refused.
        refused: String,
        /// The backend's error.
        error: String,
    },
    /// Its plan was refused, and so was the repaired one.
    #[error("refused ({first}), and again after repair ({second})")]
    RefusedTwice {
        /// Why the first plan was refused.
        first: String,
        /// Why the repaired plan was refused.
        second: String,
    },
    /// Replanning asked of the offline planner.
    #[error("the offline planner does not replan around failures")]
    OfflineReplan,
    /// The offline planner found no plan.
    #[error(transparent)]
    Offline(#[from] super::PlanError),
    /// The plan fails a check.
    #[error(transparent)]
    Check(#[from] CheckError),
}

/// Why a planner-made plan fails the checks every such plan passes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckError {
    /// The plan names a policy planners may not choose.
    #[error("{origin}: policy {policy:?} is not one a planner may choose ({allowed})")]
    Policy {
        /// The plan's origin.
        origin: String,
        /// The policy named.
        policy: String,
        /// What is allowed.
        allowed: String,
    },
    /// A task names a policy planners may not choose.
    #[error("{origin}: task {task:?}: policy {policy:?} is not one a planner may choose ({allowed})")]
    TaskPolicy {
        /// The plan's origin.
        origin: String,
        /// The task id.
        task: String,
        /// The policy named.
        policy: String,
        /// What is allowed.
        allowed: String,
    },
    /// A replan reuses the id of a task kept as it is.
    #[error("{origin}: task {task:?} already succeeded and is kept as it is; use a new id")]
    Kept {
        /// The plan's origin.
        origin: String,
        /// The task id.
        task: String,
    },
    /// A replan without tasks.
    #[error("{origin}: the replan has no tasks for the remaining work")]
    NoTasks {
        /// The plan's origin.
        origin: String,
    },
    /// The plan does not parse, validate or pass the whitelist.
    #[error(transparent)]
    Plan(#[from] crate::yaml::LocatedError),
}

fn summary(attempts: &[Attempt]) -> String {
    attempts.iter().map(|a| format!("{}: {}", a.backend, a.outcome)).collect::<Vec<_>>().join("; ")
}

/// A replan request: the failure context and the tasks kept.
#[derive(Debug, Clone)]
pub struct Replan {
    /// What the prompt says about the failure and the plan.
    pub context: ReplanContext,
    /// The tasks that succeeded, kept verbatim in the new plan.
    pub kept: Vec<Task>,
    /// The plan that was running: its name, policy, timeout and intent carry over.
    pub base: Plan,
}

/// The chain of planner backends.
pub struct Chain {
    backends: Vec<Box<dyn Backend>>,
    whitelist: Whitelist,
    allowed_policies: Vec<String>,
    redactor: Redactor,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.backends.iter().map(|b| b.name()).collect();
        f.debug_struct("Chain").field("backends", &names).finish()
    }
}

/// Build the backend a config entry describes (`None` for `offline`, which is always last anyway).
pub fn backend(cfg: &BackendConfig) -> Option<Box<dyn Backend>> {
    let http = |timeout: &Option<crate::policy::HumanDuration>,
                retries: &Option<u32>,
                backoff: &Option<crate::policy::HumanDuration>| super::http::HttpOptions {
        timeout: timeout.map(|t| t.0).unwrap_or(settings::DEFAULT_TIMEOUT),
        retries: retries.unwrap_or(settings::DEFAULT_RETRIES),
        backoff: backoff.map(|t| t.0).unwrap_or(settings::DEFAULT_BACKOFF),
    };
    match cfg {
        BackendConfig::Openai { base_url, model, api_key_env, timeout, retries, backoff, .. } => {
            Some(Box::new(super::openai::OpenAi {
                name: cfg.name(),
                base_url: base_url.clone(),
                model: model.clone(),
                api_key_env: api_key_env.clone(),
                http: http(timeout, retries, backoff),
            }))
        }
        BackendConfig::Anthropic { base_url, model, max_tokens, timeout, retries, backoff, .. } => {
            Some(Box::new(super::anthropic::Anthropic {
                name: cfg.name(),
                base_url: base_url.clone().unwrap_or_else(|| "https://api.anthropic.com".into()),
                model: model.clone(),
                api_key_env: cfg.api_key_env().unwrap_or_else(|| "ANTHROPIC_API_KEY".into()),
                max_tokens: max_tokens.unwrap_or(4096),
                http: http(timeout, retries, backoff),
            }))
        }
        BackendConfig::Command { argv, timeout, .. } => Some(Box::new(super::command::Command {
            name: cfg.name(),
            argv: argv.clone(),
            timeout: timeout.map(|t| t.0).unwrap_or(settings::DEFAULT_TIMEOUT),
        })),
        BackendConfig::Offline => None,
    }
}

impl Chain {
    /// The chain a config describes (offline last).
    pub fn from_config(planner: &PlannerConfig, whitelist: &Whitelist) -> Chain {
        let key_envs: Vec<String> = planner.backends.iter().filter_map(BackendConfig::api_key_env).collect();
        Chain {
            backends: planner.backends.iter().filter_map(backend).collect(),
            whitelist: whitelist.clone(),
            allowed_policies: planner.allowed_policies.clone(),
            redactor: Redactor::from_env(&key_envs),
        }
    }

    /// A chain of explicit backends (tests, embedding).
    pub fn new(
        backends: Vec<Box<dyn Backend>>,
        whitelist: Whitelist,
        allowed_policies: Vec<String>,
        redactor: Redactor,
    ) -> Chain {
        Chain { backends, whitelist, allowed_policies, redactor }
    }

    /// Names of the backends, offline last.
    pub fn names(&self) -> Vec<String> {
        self.backends.iter().map(|b| b.name().to_string()).chain(std::iter::once("offline".into())).collect()
    }

    /// The redactor the chain applies.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Ask the backends in order; the first acceptable plan wins.
    pub fn propose(&self, intent: &str, workspace: &Path, replan: Option<&Replan>) -> Result<Proposal, ChainError> {
        let mut attempts = Vec::new();
        for b in &self.backends {
            match self.ask(b.as_ref(), intent, workspace, replan) {
                Ok((dag, outcome)) => {
                    attempts.push(Attempt { backend: b.name().to_string(), outcome });
                    return Ok(Proposal { dag, backend: b.name().to_string(), origin: origin(b.name()), attempts });
                }
                Err(why) => attempts.push(Attempt { backend: b.name().to_string(), outcome: why.to_string() }),
            }
        }
        match self.offline(intent, workspace, replan) {
            Ok(dag) => {
                attempts.push(Attempt { backend: "offline".into(), outcome: "ok".into() });
                Ok(Proposal { dag, backend: "offline".into(), origin: origin("offline"), attempts })
            }
            Err(why) => {
                attempts.push(Attempt { backend: "offline".into(), outcome: why.to_string() });
                Err(ChainError { attempts })
            }
        }
    }

    /// Ask every backend (no fallback): for `orchestra plan --compare`.
    pub fn compare(&self, intent: &str, workspace: &Path) -> Vec<(String, Result<Dag, Refusal>)> {
        let mut out: Vec<(String, Result<Dag, Refusal>)> = self
            .backends
            .iter()
            .map(|b| (b.name().to_string(), self.ask(b.as_ref(), intent, workspace, None).map(|(d, _)| d)))
            .collect();
        out.push(("offline".into(), self.offline(intent, workspace, None)));
        out
    }

    /// One backend: ask, check, repair once. `Ok` carries `ok` or `repaired`.
    fn ask(
        &self,
        b: &dyn Backend,
        intent: &str,
        workspace: &Path,
        replan: Option<&Replan>,
    ) -> Result<(Dag, String), Refusal> {
        let red = match replan {
            // Plan env values may be secrets: none of them leaves in a prompt.
            Some(r) => self
                .redactor
                .clone()
                .with(r.kept.iter().chain(&r.base.tasks).flat_map(|t| t.env.values().cloned()).collect::<Vec<_>>()),
            None => self.redactor.clone(),
        };
        let mut conv = Conversation {
            system: red.redact(&prompt::system_prompt(&self.whitelist, &self.allowed_policies)),
            messages: vec![Message {
                role: Role::User,
                content: red.redact(&prompt::user_prompt(intent, workspace, replan.map(|r| &r.context))),
            }],
        };
        let org = origin(b.name());
        let answer = b.complete(&conv).map_err(|e| Refusal::Backend(red.redact(&e.to_string())))?;
        let errors = match self.accept(&answer, &org, intent, replan) {
            Ok(dag) => return Ok((dag, "ok".into())),
            Err(e) => e.to_string(),
        };
        tracing::info!("planner {}: answer refused ({errors}); asking once more", b.name());
        conv.messages.push(Message { role: Role::Assistant, content: red.redact(&answer) });
        conv.messages.push(Message { role: Role::User, content: red.redact(&prompt::repair_prompt(&errors)) });
        let answer = b
            .complete(&conv)
            .map_err(|e| Refusal::RepairFailed { refused: red.redact(&errors), error: red.redact(&e.to_string()) })?;
        match self.accept(&answer, &org, intent, replan) {
            Ok(dag) => Ok((dag, "repaired".into())),
            Err(e2) => Err(Refusal::RefusedTwice { first: red.redact(&errors), second: red.redact(&e2.to_string()) }),
        }
    }

    fn offline(&self, intent: &str, workspace: &Path, replan: Option<&Replan>) -> Result<Dag, Refusal> {
        if replan.is_some() {
            return Err(Refusal::OfflineReplan);
        }
        let plan = OfflinePlanner.plan(intent, workspace)?;
        Ok(self.check(plan, &origin("offline"), None)?)
    }

    /// Parse and check an answer.
    fn accept(&self, answer: &str, origin: &str, intent: &str, replan: Option<&Replan>) -> Result<Dag, CheckError> {
        let text = prompt::extract_plan_text(answer);
        let mut plan = plan::parse(text, origin)?;
        plan.intent = Some(intent.to_string());
        self.check(plan, origin, replan)
    }

    /// The checks every planner-made plan passes (a plan file gets the same, less the policy rule).
    fn check(&self, mut plan: Plan, origin: &str, replan: Option<&Replan>) -> Result<Dag, CheckError> {
        let allowed = |p: &Option<String>| p.as_ref().is_none_or(|p| self.allowed_policies.contains(p));
        if !allowed(&plan.policy) {
            return Err(CheckError::Policy {
                origin: origin.to_string(),
                policy: plan.policy.clone().unwrap_or_default(),
                allowed: allowed_text(&self.allowed_policies),
            });
        }
        for t in &plan.tasks {
            if !allowed(&t.policy) {
                return Err(CheckError::TaskPolicy {
                    origin: origin.to_string(),
                    task: t.id().to_string(),
                    policy: t.policy.clone().unwrap_or_default(),
                    allowed: allowed_text(&self.allowed_policies),
                });
            }
        }
        if let Some(r) = replan {
            for t in &plan.tasks {
                if r.kept.iter().any(|k| k.id() == t.id()) {
                    return Err(CheckError::Kept { origin: origin.to_string(), task: t.id().to_string() });
                }
            }
            if plan.tasks.is_empty() {
                return Err(CheckError::NoTasks { origin: origin.to_string() });
            }
            let mut tasks = r.kept.clone();
            tasks.append(&mut plan.tasks);
            plan = Plan { tasks, ..r.base.clone() };
        }
        let dag = plan::validate(plan, origin)?;
        self.whitelist.check(&dag, origin)?;
        Ok(dag)
    }
}

fn allowed_text(allowed: &[String]) -> String {
    if allowed.is_empty() {
        "planner.allowed_policies is empty: planner-made plans name no policy".into()
    } else {
        format!("allowed: {}", allowed.join(", "))
    }
}

/// `<NAME planner>`.
pub fn origin(name: &str) -> String {
    format!("<{name} planner>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::BackendError;
    use std::sync::Mutex;

    /// A backend that answers from a script and records what it was sent.
    struct Scripted {
        answers: Mutex<Vec<Result<String, BackendError>>>,
        seen: Mutex<Vec<Conversation>>,
    }

    impl Backend for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        fn complete(&self, conv: &Conversation) -> Result<String, BackendError> {
            self.seen.lock().unwrap().push(conv.clone());
            let mut a = self.answers.lock().unwrap();
            if a.is_empty() { Err(BackendError::Unavailable("script exhausted".into())) } else { a.remove(0) }
        }
    }

    fn chain(answers: Vec<&str>) -> (Chain, std::sync::Arc<Scripted>) {
        let s = std::sync::Arc::new(Scripted {
            answers: Mutex::new(answers.into_iter().map(|a| Ok(a.to_string())).collect()),
            seen: Mutex::new(Vec::new()),
        });
        struct Shared(std::sync::Arc<Scripted>);
        impl Backend for Shared {
            fn name(&self) -> &str {
                self.0.name()
            }
            fn complete(&self, conv: &Conversation) -> Result<String, BackendError> {
                self.0.complete(conv)
            }
        }
        let specs: std::collections::BTreeMap<String, crate::plan::tools::ToolSpec> =
            crate::yaml::from_str("sh: {program: /bin/sh, shell: true, args: ['.*']}\n", "t").unwrap();
        let wl = Whitelist::compile(&specs, "t").unwrap();
        (Chain::new(vec![Box::new(Shared(s.clone()))], wl, vec![], Redactor::new(vec![])), s)
    }

    fn base() -> Plan {
        plan::parse(
            "policy: strict\ntasks:\n- {id: a, tool: sh, args: [-c, 'true']}\n- {id: b, tool: sh, args: [-c, 'false'], needs: [a]}\n",
            "p",
        )
        .unwrap()
    }

    fn replan(kept: &[&str]) -> Replan {
        let b = base();
        Replan {
            context: ReplanContext {
                current_plan: plan::to_yaml(&b),
                kept: kept.iter().map(|s| s.to_string()).collect(),
                failure: prompt::FailureContext {
                    task: "b".into(),
                    cause: "child_exit".into(),
                    exit_status: Some(1),
                    signal: None,
                    analysis: "unknown".into(),
                    log_tail: String::new(),
                },
            },
            kept: b.tasks.iter().filter(|t| kept.contains(&t.id())).cloned().collect(),
            base: b,
        }
    }

    #[test]
    fn a_replan_keeps_the_succeeded_tasks_and_the_plan_header() {
        let (c, s) = chain(vec!["```yaml\ntasks:\n- {id: c, tool: sh, args: [-c, 'true'], needs: [a]}\n```"]);
        let ws = tempfile::tempdir().unwrap();
        let p = c.propose("x", ws.path(), Some(&replan(&["a"]))).unwrap();
        let ids: Vec<&str> = p.dag.plan.tasks.iter().map(|t| t.id()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(p.dag.plan.policy.as_deref(), Some("strict"), "the plan's own policy carries over");
        assert_eq!(p.attempts, [Attempt { backend: "scripted".into(), outcome: "ok".into() }]);
        assert!(s.seen.lock().unwrap()[0].messages[0].content.contains("REPLAN"));
    }

    #[test]
    fn a_replan_may_not_redefine_a_kept_task_and_offline_does_not_replan() {
        let redefine = "tasks:\n- {id: a, tool: sh, args: [-c, 'rm -rf .']}\n";
        let (c, s) = chain(vec![redefine, redefine]);
        let ws = tempfile::tempdir().unwrap();
        let e = c.propose("x", ws.path(), Some(&replan(&["a"]))).unwrap_err();
        assert_eq!(s.seen.lock().unwrap().len(), 2, "one repair round, no more");
        assert!(e.attempts[0].outcome.contains("already succeeded and is kept"), "{e}");
        assert_eq!(e.attempts[1].backend, "offline");
        assert!(e.attempts[1].outcome.contains("does not replan"), "{e}");
    }

    #[test]
    fn the_repair_round_carries_the_refused_answer_and_the_errors() {
        let (c, s) = chain(vec!["tasks:\n- {id: x, tool: sh, bogus: 1}\n", "tasks:\n- {id: x, tool: sh}\n"]);
        let ws = tempfile::tempdir().unwrap();
        let p = c.propose("x", ws.path(), None).unwrap();
        assert_eq!(p.attempts[0].outcome, "repaired");
        let seen = s.seen.lock().unwrap();
        let repair = &seen[1].messages;
        assert_eq!(repair.len(), 3);
        assert_eq!(repair[1].role, Role::Assistant);
        assert!(repair[2].content.contains("bogus"), "{}", repair[2].content);
    }
}
