//! The accept loop: HTTP/1 connections with bounds, so a slow or greedy
//! client cannot starve the others.
//!
//! Guarantees: at most [`MAX_CONNECTIONS`] connections are served at once
//! (more are closed at once, before a byte is read; a token is not needed to
//! open a connection, so this bound protects the token-holders too); a
//! request's headers must arrive within [`HEADER_TIMEOUT`]; on shutdown every
//! connection is asked to finish its request and close, and the loop ends.

use axum::Router;
use axum::extract::ConnectInfo;
use std::sync::Arc;
use std::time::Duration;

/// Connections served at once, at most.
pub const MAX_CONNECTIONS: usize = 512;

/// The longest a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve `router` on `listener` until `closing` becomes true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    mut closing: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            _ = closing.changed() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                // Out of descriptors and the like: wait a little, never spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let svc = router.clone().layer(axum::Extension(ConnectInfo(peer)));
        let mut closing = closing.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc = hyper_util::service::TowerToHyperService::new(svc);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(io, svc)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = closing.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(slot);
        });
    }
}
