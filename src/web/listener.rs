//! The accept loop: accept, cap, serve each connection over HTTP/1.1, and time out clients
//! that are slow to send a request head or that leave a kept-alive connection idle.
//!
//! warp 0.4's own server has no timeouts and no cap, so this loop replaces it (copying its
//! shape: `warp::service(filter)` served by hyper's connection builder). Each connection is
//! in one [`Phase`] at a time, and its deadline follows from the phase alone:
//!
//! ```text
//!            accept                first byte of a later request
//!   Waiting{first} ──────┐   Waiting ─────────▶ Head ──── head parsed ───▶ Busy
//!   deadline: header     │   deadline: idle     deadline: header          no deadline
//!                        └─────────────────────▶      ◀── response sent ───┘
//! ```
//!
//! A connection past its deadline, evicted, or told to close by shutdown closes at once when
//! no request is in progress: in `Head` it is dropped (nothing was answered), in `Waiting`
//! hyper's graceful shutdown closes it after flushing what it wrote (dropped if that takes
//! over a second). In `Busy` it finishes its request first, then closes. The body-read
//! timeout is the endpoint's (`server::read_body`), since only it reads the body.
//!
//! At the cap, a new connection evicts the connection that has been `Waiting` or `Head` the
//! longest, so idle or slow clients, however many, never keep a new one out; only when every
//! held connection has a request in progress does the loop stop accepting until one ends, and
//! new clients wait in the kernel's listen backlog.

mod connection;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use warp::Filter;
use warp::http::Request;

use crate::web::limits::ServerLimits;
use connection::{InProgress, Phase, Registered, Table, TrackedBody, Watched};

/// How long the loop pauses after an accept error that is not the client's (out of
/// descriptors, out of buffers), so that it does not spin; short, since a normal request may
/// be waiting behind it.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The listen backlog [`run`] asks for (the kernel caps it at `net.core.somaxconn`). tokio
/// binds with 128, which a burst of connections overflows while the loop is descheduled for a
/// few milliseconds; an overflowing backlog drops SYNs, and a dropped SYN costs its client a
/// one-second retransmission, whoever it is.
#[cfg(unix)]
const LISTEN_BACKLOG: i32 = 1024;

/// How long a connection told to close while `Waiting` may take to flush what it has written.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The peer's address, as the request extension the facade reads it from: warp's own
/// `RemoteAddr` extension is private to warp.
#[derive(Clone, Copy, Debug)]
struct PeerAddr(SocketAddr);

/// The client's address as `warp::addr::remote` gives it under warp's server, for [`run`].
pub(crate) fn peer_addr()
-> impl Filter<Extract = (Option<SocketAddr>,), Error = Infallible> + Clone + Send + Sync + 'static
{
    warp::ext::optional::<PeerAddr>().map(|peer: Option<PeerAddr>| peer.map(|PeerAddr(a)| a))
}

/// Serves `filter` on `listener` under `limits` until `shutdown` resolves; then stops
/// accepting, closes connections with no request in progress, and returns when every
/// connection has ended.
pub(crate) async fn run<F>(
    listener: TcpListener,
    filter: F,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    F: Filter<Extract = (warp::reply::Response,), Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
{
    // Listening again on a listening socket only changes its backlog.
    #[cfg(unix)]
    if let Err(e) = rustix::net::listen(&listener, LISTEN_BACKLOG) {
        tracing::debug!(error = %e, "the listen backlog stays as bound");
    }
    let service = TowerToHyperService::new(warp::service(filter));
    let table = Arc::new(Table::default());
    let slots = Arc::new(Semaphore::new(limits.max_connections()));
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Most likely out of descriptors: free one before trying again.
                tracing::error!(error = %e, "accept failed");
                table.evict_longest_waiting();
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                table.evict_longest_waiting();
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    permit = Arc::clone(&slots).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                }
            }
        };
        tokio::spawn(serve_connection(
            stream,
            peer,
            service.clone(),
            table.register(),
            limits,
            permit,
        ));
    }
    drop(listener);
    table.close_all();
    // Each connection holds its slot until it ends: every slot back means every connection
    // done. `max_connections` is at most `limits::MAX_CONNECTIONS`, which fits a `u32`.
    let all = u32::try_from(limits.max_connections()).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// Serves one connection until the client closes it, a deadline passes, or it is told to
/// close (evicted, or shutdown); `_slot` is given back when it ends.
async fn serve_connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    registered: Registered,
    limits: ServerLimits,
    _slot: OwnedSemaphorePermit,
) where
    S: Service<Request<Incoming>, Response = warp::reply::Response, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let connection = registered.connection();
    let io = TokioIo::new(Watched::new(stream, Arc::clone(connection)));
    let tracked = Arc::clone(connection);
    let service = service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(PeerAddr(peer));
        let in_progress = InProgress::begin(Arc::clone(&tracked));
        let response = service.call(request);
        async move {
            let response = response.await?;
            Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, in_progress)))
        }
    });
    let mut builder = http1::Builder::new();
    // Our own deadlines replace hyper's header timer, which would also run while a kept-alive
    // connection waits for its next request and so cut it off at the header timeout.
    builder.keep_alive(true).header_read_timeout(None);
    let mut http = pin!(builder.serve_connection(io, service));
    let mut timer = pin!(tokio::time::sleep_until(Instant::now()));
    let mut draining = false;
    let mut hard_stop: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let status = connection.status();
        let deadline = status.phase.deadline(&limits);
        let expired = deadline.is_some_and(|at| at <= now);
        if !draining && (status.close_requested || expired) {
            if expired {
                tracing::debug!(phase = status.phase.name(), "connection timed out");
            }
            match status.phase {
                Phase::Head { .. } => return,
                Phase::Waiting { .. } | Phase::Busy { .. } => {
                    http.as_mut().graceful_shutdown();
                    draining = true;
                }
            }
        }
        if draining && hard_stop.is_none() && !matches!(status.phase, Phase::Busy { .. }) {
            hard_stop = Some(now + CLOSE_GRACE);
        }
        if hard_stop.is_some_and(|at| at <= now) {
            return;
        }
        let wake_at = if draining { hard_stop } else { deadline };
        if let Some(at) = wake_at {
            timer.as_mut().reset(at);
        }
        tokio::select! {
            biased;
            result = http.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = connection.changed() => {}
            () = timer.as_mut(), if wake_at.is_some() => {}
        }
    }
}

/// Errors of one connection surfaced by `accept`; the next accept is unaffected.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
