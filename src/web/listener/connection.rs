//! One held connection's state: its [`Phase`] (hence its deadline), the [`Table`] of all of
//! them that eviction and shutdown walk, and the wrappers that move a connection between
//! phases: [`Watched`] I/O (first byte of a request) and [`InProgress`] inside a
//! [`TrackedBody`] (a request from the service call until its response is written).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use hyper::body::{Body, Frame, SizeHint};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::web::limits::ServerLimits;

/// Where a connection is between requests, which decides its deadline and how it closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// No request in progress and no byte of the next one read, since `since`. `first`: a new
    /// connection, which has the header timeout to send its first request, not the idle one.
    Waiting {
        /// When the connection was accepted or its last response handed over.
        since: Instant,
        /// Whether no request has been made yet.
        first: bool,
    },
    /// Part of a request head read; the head must be whole by `since` + the header timeout.
    Head {
        /// When the connection was accepted (first request) or the head's first byte arrived.
        since: Instant,
    },
    /// `requests` requests handed to the service whose responses are not yet fully written.
    Busy {
        /// At least 1.
        requests: usize,
    },
}

impl Phase {
    /// When a connection in this phase is cut off, if ever.
    pub(super) fn deadline(self, limits: &ServerLimits) -> Option<Instant> {
        match self {
            Phase::Waiting { since, first: true } | Phase::Head { since } => {
                Some(since + limits.header_read_timeout())
            }
            Phase::Waiting {
                since,
                first: false,
            } => Some(since + limits.idle_timeout()),
            Phase::Busy { .. } => None,
        }
    }

    /// Since when the connection has had no request in progress, if it has none.
    fn waiting_since(self) -> Option<Instant> {
        match self {
            Phase::Waiting { since, .. } | Phase::Head { since } => Some(since),
            Phase::Busy { .. } => None,
        }
    }

    /// The log label.
    pub(super) fn name(self) -> &'static str {
        match self {
            Phase::Waiting { first: true, .. } => "first_request",
            Phase::Waiting { first: false, .. } => "idle",
            Phase::Head { .. } => "header",
            Phase::Busy { .. } => "busy",
        }
    }
}

/// One connection's phase, and whether it was told to close.
#[derive(Clone, Copy, Debug)]
pub(super) struct Status {
    /// Where the connection is.
    pub(super) phase: Phase,
    /// Evicted or shut down: close as soon as no request is in progress.
    pub(super) close_requested: bool,
}

/// A held connection, shared by its task, its I/O, its requests and the [`Table`].
#[derive(Debug)]
pub(super) struct Connection {
    /// Unique per server; ties between equal instants go to the lower (older) one.
    id: u64,
    /// Changed by the I/O (first byte), the requests (start, end) and the table (close).
    status: Mutex<Status>,
    /// Wakes the connection's task when its deadline moves earlier or it is told to close.
    wake: Notify,
}

impl Connection {
    /// The current status.
    pub(super) fn status(&self) -> Status {
        *self.status.lock()
    }

    /// Resolves when the status changed in a way that may move the deadline earlier, or the
    /// connection was told to close, since the last call resolved.
    pub(super) async fn changed(&self) {
        self.wake.notified().await;
    }

    /// Bytes arrived: a `Waiting` connection is now reading a request head.
    fn bytes_read(&self) {
        let mut status = self.status.lock();
        if let Phase::Waiting { since, first } = status.phase {
            // A new connection's head deadline runs from the accept, a later request's from its
            // first byte.
            let since = if first { since } else { Instant::now() };
            status.phase = Phase::Head { since };
            drop(status);
            self.wake.notify_one();
        }
    }

    /// A request was handed to the service.
    fn request_started(&self) {
        let mut status = self.status.lock();
        status.phase = match status.phase {
            Phase::Busy { requests } => Phase::Busy {
                requests: requests.saturating_add(1),
            },
            Phase::Waiting { .. } | Phase::Head { .. } => Phase::Busy { requests: 1 },
        };
    }

    /// A response was fully written (or dropped).
    fn request_ended(&self) {
        let mut status = self.status.lock();
        status.phase = match status.phase {
            Phase::Busy { requests } if requests > 1 => Phase::Busy {
                requests: requests - 1,
            },
            _ => Phase::Waiting {
                since: Instant::now(),
                first: false,
            },
        };
        drop(status);
        self.wake.notify_one();
    }

    /// Tells the connection to close as soon as no request is in progress.
    fn close(&self) {
        self.status.lock().close_requested = true;
        self.wake.notify_one();
    }
}

/// Every held connection, so that the loop can evict one and shutdown can close them all.
#[derive(Debug, Default)]
pub(super) struct Table {
    /// The next [`Connection::id`].
    next_id: AtomicU64,
    /// Held connections by id. Lock order: this map, then a connection's status.
    connections: Mutex<HashMap<u64, Arc<Connection>>>,
}

impl Table {
    /// Adds a new connection, `Waiting` for its first request from now; it leaves the table
    /// when the returned [`Registered`] is dropped.
    pub(super) fn register(self: &Arc<Table>) -> Registered {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection {
            id,
            status: Mutex::new(Status {
                phase: Phase::Waiting {
                    since: Instant::now(),
                    first: true,
                },
                close_requested: false,
            }),
            wake: Notify::new(),
        });
        self.connections.lock().insert(id, Arc::clone(&connection));
        Registered {
            table: Arc::clone(self),
            connection,
        }
    }

    /// Tells the connection with no request in progress for the longest to close; none if
    /// every connection is busy or already closing.
    pub(super) fn evict_longest_waiting(&self) {
        let connections = self.connections.lock();
        let victim = connections
            .values()
            .filter_map(|connection| {
                let status = connection.status();
                let since = status.phase.waiting_since()?;
                (!status.close_requested).then_some((since, connection.id, connection))
            })
            .min_by_key(|(since, id, _)| (*since, *id));
        if let Some((_, _, connection)) = victim {
            tracing::debug!("connection cap reached: closing the longest waiting connection");
            connection.close();
        }
    }

    /// Tells every connection to close.
    pub(super) fn close_all(&self) {
        for connection in self.connections.lock().values() {
            connection.close();
        }
    }
}

/// Removes its connection from the [`Table`] when the connection's task ends, however it ends.
pub(super) struct Registered {
    /// The table.
    table: Arc<Table>,
    /// The connection.
    connection: Arc<Connection>,
}

impl Registered {
    /// The connection.
    pub(super) fn connection(&self) -> &Arc<Connection> {
        &self.connection
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.table.connections.lock().remove(&self.connection.id);
    }
}

/// A request in progress on a connection: from the service call until its response body is
/// fully written or dropped (it travels inside [`TrackedBody`]).
#[derive(Debug)]
pub(super) struct InProgress(Arc<Connection>);

impl InProgress {
    /// Marks a request started on `connection`.
    pub(super) fn begin(connection: Arc<Connection>) -> InProgress {
        connection.request_started();
        InProgress(connection)
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// A response body that ends its request's [`InProgress`] when hyper drops it, after writing
/// it.
#[derive(Debug)]
pub(super) struct TrackedBody<B> {
    /// The body.
    body: B,
    /// Dropped with the body.
    _in_progress: InProgress,
}

impl<B> TrackedBody<B> {
    /// `body`, ending `in_progress` when dropped.
    pub(super) fn new(body: B, in_progress: InProgress) -> TrackedBody<B> {
        TrackedBody {
            body,
            _in_progress: in_progress,
        }
    }
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The TCP stream, telling its [`Connection`] when bytes arrive.
#[derive(Debug)]
pub(super) struct Watched {
    /// The stream.
    stream: TcpStream,
    /// Told of each read that returned data.
    connection: Arc<Connection>,
}

impl Watched {
    /// `stream`, reporting reads to `connection`.
    pub(super) fn new(stream: TcpStream, connection: Arc<Connection>) -> Watched {
        Watched { stream, connection }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.connection.bytes_read();
        }
        poll
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits() -> ServerLimits {
        ServerLimits::default()
            .with_header_read_timeout(Duration::from_secs(10))
            .with_idle_timeout(Duration::from_secs(75))
    }

    #[test]
    fn a_new_connection_has_the_header_timeout_a_kept_alive_one_the_idle_timeout() {
        let table = Arc::new(Table::default());
        let registered = table.register();
        let connection = registered.connection();
        let Phase::Waiting { since, first: true } = connection.status().phase else {
            panic!("a new connection waits for its first request");
        };
        let header = Some(since + Duration::from_secs(10));
        assert_eq!(connection.status().phase.deadline(&limits()), header);
        connection.bytes_read();
        assert_eq!(connection.status().phase, Phase::Head { since });
        assert_eq!(connection.status().phase.deadline(&limits()), header);

        let in_progress = InProgress::begin(Arc::clone(connection));
        assert_eq!(connection.status().phase.deadline(&limits()), None);
        drop(in_progress);
        let Phase::Waiting {
            since,
            first: false,
        } = connection.status().phase
        else {
            panic!("kept alive");
        };
        assert_eq!(
            connection.status().phase.deadline(&limits()),
            Some(since + Duration::from_secs(75))
        );
        connection.bytes_read();
        assert!(matches!(connection.status().phase, Phase::Head { since: s } if s >= since));
    }

    #[test]
    fn eviction_takes_the_longest_waiting_connection_never_a_busy_one() {
        let table = Arc::new(Table::default());
        let busy = table.register();
        let oldest_waiting = table.register();
        let newest = table.register();
        let _in_progress = InProgress::begin(Arc::clone(busy.connection()));
        let told = |r: &Registered| r.connection().status().close_requested;

        table.evict_longest_waiting();
        assert_eq!(
            [told(&busy), told(&oldest_waiting), told(&newest)],
            [false, true, false]
        );
        table.evict_longest_waiting();
        assert_eq!(
            [told(&busy), told(&oldest_waiting), told(&newest)],
            [false, true, true]
        );
        table.evict_longest_waiting();
        assert!(!told(&busy), "a request in progress is never evicted");

        drop(newest);
        assert_eq!(table.connections.lock().len(), 2, "dropped, unregistered");
        table.close_all();
        assert!(told(&busy));
    }
}
