//! `orchestra dashboard`: serve the web UI, JSON API, live feed and metrics
//! over a runs directory (the `orchestra-dashboard` crate does the work).

use crate::exit::Exit;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The default address: loopback only.
pub const DEFAULT_BIND: &str = "127.0.0.1:7878";

/// `orchestra dashboard`
#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    /// Address to listen on. A non-loopback address needs a token
    /// (ORCHESTRA_DASHBOARD_TOKEN or --token-file), or the dashboard refuses to start.
    #[arg(long, default_value = DEFAULT_BIND)]
    pub bind: SocketAddr,
    /// Runs directory (default: the config's, else `runs`).
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// A file holding the access token (at least 16 characters). Browsers
    /// open `/login?token=…` once; programs send `Authorization: Bearer …`.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Allow pausing, continuing and cancelling runs (read-only without it).
    /// Needs a token: without one, a fresh token is made and shown once as a
    /// sign-in link.
    #[arg(long)]
    pub operator: bool,
    /// A distributed run's queue (`redis://…`): `/metrics` then shows its depth
    /// and live workers. Read only.
    #[arg(long, env = "ORCHESTRA_QUEUE", value_name = "URL")]
    pub queue: Option<String>,
}

/// Why the token cannot be had.
#[derive(Debug, thiserror::Error)]
enum TokenError {
    #[error("--token-file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
}

fn token(args: &DashboardArgs) -> Result<Option<String>, TokenError> {
    if let Some(p) = &args.token_file {
        let t = std::fs::read_to_string(p).map_err(|source| TokenError::Read { path: p.clone(), source })?;
        return Ok(Some(t.trim().to_string()));
    }
    Ok(std::env::var("ORCHESTRA_DASHBOARD_TOKEN").ok().filter(|t| !t.is_empty()))
}

/// Run `orchestra dashboard`.
pub fn run(args: DashboardArgs) -> Exit {
    let token = match token(&args) {
        Ok(t) => t,
        Err(e) => return super::config_error(e),
    };
    // A loopback operator without a token gets a fresh one, shown once (as a sign-in link).
    let made = token.is_none() && args.operator;
    let token = match token {
        Some(t) => Some(t),
        None if args.operator => match orchestra_dashboard::guard::new_token() {
            Some(t) => Some(t),
            None => return super::config_error("cannot draw a random token for --operator"),
        },
        None => None,
    };
    let runs_dir = super::runs::runs_dir(args.runs_dir.clone());
    let runs_dir = std::path::absolute(&runs_dir).unwrap_or(runs_dir);
    let mode = if args.operator { "operator: pause, continue and cancel allowed" } else { "read-only" };
    let opts = orchestra_dashboard::Options {
        bind: args.bind,
        runs_dir: runs_dir.clone(),
        token,
        operator: args.operator,
        queue: args.queue.clone(),
    };
    let shown = if made { opts.token.clone() } else { None };
    let result = orchestra_dashboard::serve(opts, |addr| match shown {
        Some(t) => crate::sandbox::say!(
            "orchestra: dashboard on http://{addr}/ over {} ({mode}); sign in once at http://{addr}/login?token={t}",
            runs_dir.display()
        ),
        None => crate::sandbox::say!("orchestra: dashboard on http://{addr}/ over {} ({mode})", runs_dir.display()),
    });
    match result {
        Ok(()) => Exit::Ok,
        Err(e) => super::config_error(e),
    }
}
