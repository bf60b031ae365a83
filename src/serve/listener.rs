//! Connections: the listening socket → connections that hold one of `max_connections` slots,
//! must send each request head within `header_timeout` and [`MAX_HEAD_BYTES`], close after
//! `idle_timeout` without traffic, and give their slot up to a newcomer that finds every slot
//! taken when they are not in the middle of a request (or have been sending their response
//! for longer than [`SEND_GRACE`]).
//!
//! Why not hyper's own `header_read_timeout`: axum 0.8's `serve` sets no timer, so hyper
//! (1.12) never starts it, and with a timer of our own hyper-util's (0.1.21) automatic
//! builder first reads the protocol preface without any deadline. Above all, hyper starts the
//! timer again the moment a response is written, so an idle keep-alive connection would be cut
//! after `header_timeout`, not `idle_timeout`, and hyper does not tell which connections are
//! between requests, which choosing one to close needs. So the connection tracks this itself:
//! the router made for it ([`Tracked`]) marks when hyper hands over a request (its head read
//! whole) and when the response comes back, and the connection's reads and writes do the rest.

use std::collections::BTreeMap;
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use std::convert::Infallible;

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::future::RouteFuture;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower_service::Service;

/// How long an accepted connection waits for a slot, when no other connection can be closed
/// for it, before the listener looks again for one that can.
pub const SLOT_RETRY: Duration = Duration::from_millis(100);

/// A connection whose response has been going out for this long may be closed for a newcomer
/// that finds every slot taken, like one without a request. A client that asks for a large
/// response and does not read it keeps its response "going out" until `idle_timeout`; this
/// bounds how long such clients keep newcomers waiting. It applies only when a newcomer waits,
/// so a slow reader on a server with free slots is never cut off: at this length a
/// 768 KB feed (250 KB gzipped) needs 25 KB/s to arrive whole even then.
pub const SEND_GRACE: Duration = Duration::from_secs(10);

/// Bytes a request head (request line and headers) may take; a connection whose head is still
/// unfinished past them is closed. hyper alone would buffer about 408 KiB of an unfinished
/// head per connection; this caps what a connection holds while it sends one (about 30 KiB
/// with hyper's buffer at this size, 47 KiB at 32 KiB: 30 MiB for `max_connections` = 1024).
/// Feed readers send a few hundred bytes; nginx and Apache cut a single header line at 8 KiB.
pub const MAX_HEAD_BYTES: usize = 16 << 10;

/// The limits a [`LimitedListener`] puts on its connections (`[server]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// A connection that neither sends nor receives a byte for this long is closed.
    pub idle_timeout: Duration,
    /// A request head (request line and headers) must arrive whole within this long: from the
    /// accept for the first request of a connection, from its first byte for later ones.
    pub header_timeout: Duration,
}

/// What a connection is doing, as far as closing it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Waiting for a request head to arrive whole: its deadline runs.
    Head = 0,
    /// A request was read and its response is not yet handed over.
    Request = 1,
    /// Between requests (keep-alive): only the idle clock runs.
    Idle = 2,
}

/// The state of one connection, shared by its I/O, the router layer that marks requests, and
/// the listener (which may close it).
#[derive(Debug)]
struct State {
    phase: AtomicU8,
    /// Response bytes may still be on their way out: set when a response is handed over and
    /// by every write, cleared once hyper has written all it holds and flushes.
    unflushed: AtomicBool,
    /// When the response going out was handed over, in milliseconds after `born`, plus one;
    /// 0 while none is.
    sending_since: AtomicU64,
    /// Set by the listener to close the connection and take its slot.
    closing: AtomicBool,
    /// The connection task's waker, so that closing takes effect without waiting for traffic.
    waker: Mutex<Option<Waker>>,
    /// When the connection got its slot.
    born: Instant,
}

impl State {
    fn new() -> State {
        State {
            phase: AtomicU8::new(Phase::Head as u8),
            unflushed: AtomicBool::new(false),
            sending_since: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            waker: Mutex::new(None),
            born: Instant::now(),
        }
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Head,
            1 => Phase::Request,
            _ => Phase::Idle,
        }
    }

    fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// Whether closing it loses nothing a client is owed: no request under way, no response
    /// bytes left to send.
    fn may_close(&self) -> bool {
        self.phase() != Phase::Request
            && !self.unflushed.load(Ordering::Acquire)
            && !self.closing.load(Ordering::Acquire)
    }

    /// A response was handed over to be sent.
    fn sending(&self) {
        let since = self.born.elapsed().as_millis();
        let since = u64::try_from(since).unwrap_or(u64::MAX - 1);
        self.sending_since.store(since + 1, Ordering::Release);
    }

    /// How long the response going out has been, if one is.
    fn sending_for(&self, now: Instant) -> Option<Duration> {
        match self.sending_since.load(Ordering::Acquire) {
            0 => None,
            since => {
                let started = self.born + Duration::from_millis(since - 1);
                Some(now.saturating_duration_since(started))
            }
        }
    }

    fn close(&self) {
        self.closing.store(true, Ordering::Release);
        // A poisoned lock only means a task panicked while swapping a waker: the slot is intact.
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Remembers who to wake; true if the connection is to close.
    fn park(&self, cx: &Context<'_>) -> bool {
        {
            let mut waker = self.waker.lock().unwrap_or_else(|p| p.into_inner());
            match waker.as_ref() {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *waker = Some(cx.waker().clone()),
            }
        }
        // Checked after storing the waker, so that a close in between is not missed.
        self.closing.load(Ordering::Acquire)
    }
}

/// The open connections in the order they were accepted.
#[derive(Debug, Default)]
struct Open {
    by_age: Mutex<BTreeMap<u64, Arc<State>>>,
}

impl Open {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<State>>> {
        // A poisoned lock only means a task panicked between two map operations, which
        // leave the map whole.
        self.by_age.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes a connection for a newcomer that found every slot taken: the oldest one without
    /// a request under way, else the one whose response has been going out longest, if for
    /// [`SEND_GRACE`] at least. Closes none while an earlier one is still closing (its slot
    /// is about to come free). False if none could be closed.
    fn make_room(&self) -> bool {
        let now = Instant::now();
        let victim = {
            let open = self.lock();
            if open.values().any(|s| s.closing.load(Ordering::Acquire)) {
                return true;
            }
            open.values()
                .find(|s| s.may_close())
                .or_else(|| {
                    open.values()
                        .filter_map(|s| Some((s.sending_for(now)?, s)))
                        .filter(|(sending, _)| *sending >= SEND_GRACE)
                        .max_by_key(|(sending, _)| *sending)
                        .map(|(_, s)| s)
                })
                .cloned()
        };
        match victim {
            Some(state) => {
                state.close();
                true
            }
            None => false,
        }
    }
}

/// The listening socket with the server's connection limits ([`Limits`]). A newcomer that finds
/// every slot taken gets the slot of the connection that has waited longest without a request
/// under way (one still sending its first head, or idle between requests), which is closed for
/// it, so clients that say nothing or trickle cannot keep new ones out; failing that, the slot
/// of the one whose response has been going out longest, once for [`SEND_GRACE`], so clients
/// that do not read cannot either. Otherwise the newcomer waits for a request to finish, and
/// those after it in the kernel's backlog. No connection is closed while nobody waits.
#[derive(Debug)]
pub struct LimitedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    open: Arc<Open>,
    limits: Limits,
    accepted: u64,
}

impl LimitedListener {
    /// Wraps `inner`.
    pub fn new(inner: TcpListener, limits: Limits) -> Self {
        LimitedListener {
            inner,
            slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            open: Arc::default(),
            limits,
            accepted: 0,
        }
    }

    /// A slot for a connection just accepted, made by closing another one if need be.
    async fn slot(&self) -> OwnedSemaphorePermit {
        loop {
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                return slot;
            }
            // The closed connection gives its slot back once its task runs; if none could be
            // closed, a request finishing gives one back, or a connection falls idle (or its
            // response overstays SEND_GRACE) and the next round closes it.
            self.open.make_room();
            // Invariant: the semaphore is never closed.
            if let Ok(slot) =
                tokio::time::timeout(SLOT_RETRY, self.slots.clone().acquire_owned()).await
            {
                return slot.expect("semaphore open");
            }
        }
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedConnection;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // Accepted first, so that a connection is closed only for a newcomer that exists, and
        // never the newcomer itself: it is not among the open ones until it has its slot.
        let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let slot = self.slot().await;
        let _ = stream.set_nodelay(true);
        self.accepted += 1;
        let id = self.accepted;
        let state = Arc::new(State::new());
        self.open.lock().insert(id, state.clone());
        let now = Instant::now();
        let head_deadline = now + self.limits.header_timeout;
        let first = head_deadline.min(now + self.limits.idle_timeout);
        (
            LimitedConnection {
                stream,
                state,
                open: self.open.clone(),
                id,
                _slot: slot,
                timer: Box::pin(tokio::time::sleep_until(first)),
                head_deadline: Some(head_deadline),
                head_bytes: 0,
                limits: self.limits,
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The router, made per connection into a [`Tracked`] that knows its connection.
#[derive(Debug, Clone)]
pub struct TrackedRouter(pub Router);

impl Service<IncomingStream<'_, LimitedListener>> for TrackedRouter {
    type Response = Tracked;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Tracked, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: IncomingStream<'_, LimitedListener>) -> Self::Future {
        std::future::ready(Ok(Tracked {
            state: stream.io().state.clone(),
            router: self.0.clone(),
        }))
    }
}

/// The router for one connection: marks the connection busy from the moment hyper hands it a
/// request (its head has arrived whole, so the head deadline no longer applies, and the
/// connection may not be closed to make room) until the response is handed back, then idle.
#[derive(Debug, Clone)]
pub struct Tracked {
    state: Arc<State>,
    router: Router,
}

impl Service<Request> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = TrackedResponse;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, request: Request) -> TrackedResponse {
        self.state.set_phase(Phase::Request);
        TrackedResponse {
            inner: self.router.call(request),
            state: self.state.clone(),
        }
    }
}

/// The response of a [`Tracked`] router.
pub struct TrackedResponse {
    inner: RouteFuture<Infallible>,
    state: Arc<State>,
}

impl std::fmt::Debug for TrackedResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackedResponse")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl std::future::Future for TrackedResponse {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = std::task::ready!(Pin::new(&mut self.inner).poll(cx));
        // In this order, so that the listener never sees an idle connection whose response is
        // not yet written.
        self.state.sending();
        self.state.unflushed.store(true, Ordering::Release);
        self.state.set_phase(Phase::Idle);
        Poll::Ready(response)
    }
}

/// A connection that holds one of the listener's slots; see [`LimitedListener`] and [`Limits`].
#[derive(Debug)]
pub struct LimitedConnection {
    stream: TcpStream,
    state: Arc<State>,
    open: Arc<Open>,
    id: u64,
    _slot: OwnedSemaphorePermit,
    /// Fires at the head deadline or when the idle clock runs out, whichever is first.
    timer: Pin<Box<Sleep>>,
    /// When the request head being read must be complete, while one is being read.
    head_deadline: Option<Instant>,
    /// Bytes read since the head being read began.
    head_bytes: usize,
    limits: Limits,
}

impl Drop for LimitedConnection {
    fn drop(&mut self) {
        self.open.lock().remove(&self.id);
    }
}

impl LimitedConnection {
    /// Called after each use of the socket (`read` says whether bytes arrived): moves the
    /// deadlines along, and reports a timeout or a close by the listener.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
        read: bool,
    ) -> Poll<io::Result<T>> {
        if self.state.closing.load(Ordering::Acquire) {
            return Poll::Ready(Err(closed_for_room()));
        }
        let phase = self.state.phase();
        if self.head_deadline.is_some() && phase != Phase::Head {
            // The head arrived whole: from now on only the idle clock counts.
            self.head_deadline = None;
            let idle = Instant::now() + self.limits.idle_timeout;
            self.timer.as_mut().reset(idle);
        }
        if read && phase == Phase::Idle {
            // The first byte of the next request on a kept-alive connection.
            self.state.set_phase(Phase::Head);
            self.head_deadline = Some(Instant::now() + self.limits.header_timeout);
        }
        match poll {
            Poll::Ready(r) => {
                // Progress restarts the idle clock, but never moves a head deadline: bytes
                // trickling in do not buy time.
                let idle = Instant::now() + self.limits.idle_timeout;
                let deadline = self.head_deadline.map_or(idle, |head| head.min(idle));
                self.timer.as_mut().reset(deadline);
                Poll::Ready(r)
            }
            Poll::Pending => {
                if self.state.park(cx) {
                    return Poll::Ready(Err(closed_for_room()));
                }
                match self.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn wrote(&self) {
        self.state.unflushed.store(true, Ordering::Release);
    }
}

fn closed_for_room() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "closed to make room for a new connection",
    )
}

fn head_too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("request head larger than {MAX_HEAD_BYTES} bytes"),
    )
}

impl AsyncRead for LimitedConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let phase = self.state.phase();
        // What this read may bring: the rest of the head's allowance while a head is read
        // (bytes after a response begin the next head), anything while a request is handled.
        let allowed = match phase {
            Phase::Head => MAX_HEAD_BYTES.saturating_sub(self.head_bytes),
            Phase::Idle => MAX_HEAD_BYTES,
            Phase::Request => usize::MAX,
        };
        if allowed == 0 {
            return Poll::Ready(Err(head_too_large()));
        }
        let this = &mut *self;
        let (poll, read) = if allowed < buf.remaining() {
            let mut limited = ReadBuf::new(buf.initialize_unfilled_to(allowed));
            let poll = Pin::new(&mut this.stream).poll_read(cx, &mut limited);
            let read = limited.filled().len();
            buf.advance(read);
            (poll, read)
        } else {
            let before = buf.filled().len();
            let poll = Pin::new(&mut this.stream).poll_read(cx, buf);
            (poll, buf.filled().len() - before)
        };
        match phase {
            Phase::Head => this.head_bytes += read,
            Phase::Idle if read > 0 => this.head_bytes = read,
            Phase::Idle | Phase::Request => {}
        }
        this.watch(cx, poll, read > 0)
    }
}

impl AsyncWrite for LimitedConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.wrote();
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, poll, false)
    }

    // Without these two, hyper copies every response body into its own buffer before
    // writing it (`/feed.xml` uncompressed: 750 KB per request, a quarter of the server's
    // CPU); with them, it hands the body to the socket as it is, headers beside it.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.wrote();
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, poll, false)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        // hyper flushes the socket only once it has written everything it holds.
        if matches!(poll, Poll::Ready(Ok(()))) {
            self.state.sending_since.store(0, Ordering::Release);
            self.state.unflushed.store(false, Ordering::Release);
        }
        poll
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LIMITS: Limits = Limits {
        max_connections: 4,
        idle_timeout: Duration::from_secs(5),
        header_timeout: Duration::from_secs(5),
    };

    /// A connection of the listener writes several buffers in one call, as the socket does:
    /// hyper then sends a response body without copying it first.
    #[tokio::test]
    async fn connections_write_vectored_like_the_socket() {
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        let mut listener = LimitedListener::new(inner, LIMITS);
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut conn, _) = axum::serve::Listener::accept(&mut listener).await;
        assert!(AsyncWrite::is_write_vectored(&conn));
        let bufs = [
            io::IoSlice::new(b"HTTP/1.1 200 OK\r\n\r\n"),
            io::IoSlice::new(b"body"),
        ];
        let written = conn.write_vectored(&bufs).await.unwrap();
        assert_eq!(written, 23, "both buffers in one call");
        conn.shutdown().await.unwrap();
        let mut got = String::new();
        client.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "HTTP/1.1 200 OK\r\n\r\nbody");
    }

    /// With every slot taken, the oldest connection that is not in a request is closed for
    /// a newcomer; one in the middle of a request, or with a response still going out, never is.
    #[tokio::test]
    async fn a_full_listener_closes_the_oldest_waiting_connection() {
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        let limits = Limits {
            max_connections: 3,
            ..LIMITS
        };
        let mut listener = LimitedListener::new(inner, limits);
        let mut clients = Vec::new();
        let mut conns = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(addr).await.unwrap());
            conns.push(axum::serve::Listener::accept(&mut listener).await.0);
        }
        // The oldest is handling a request; the second has a response going out.
        conns[0].state.set_phase(Phase::Request);
        conns[1].state.set_phase(Phase::Idle);
        conns[1].state.unflushed.store(true, Ordering::Release);
        let mut third = conns.pop().unwrap();
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 1];
            third.read(&mut buf).await
        });
        clients.push(TcpStream::connect(addr).await.unwrap());
        let (_fourth, _) = tokio::time::timeout(
            Duration::from_secs(10),
            axum::serve::Listener::accept(&mut listener),
        )
        .await
        .expect("the accept does not wait for a slot");
        let closed = reader.await.unwrap().unwrap_err();
        assert_eq!(closed.kind(), io::ErrorKind::ConnectionAborted);
        assert!(!conns[0].state.closing.load(Ordering::Acquire));
        assert!(!conns[1].state.closing.load(Ordering::Acquire));
    }

    /// See: issue #19 (review of the server, 7). With every slot taken and nobody else
    /// connecting, the listener waits for a newcomer and closes no one. Before the fix it
    /// looked for a slot before accepting, and so closed the oldest idle connection as soon
    /// as the last slot was taken (running at one connection fewer than allowed), or, when the
    /// others were busy, the connection it had just accepted.
    #[tokio::test]
    async fn regression_19_a_full_listener_closes_no_one_while_nobody_waits() {
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        let limits = Limits {
            max_connections: 2,
            ..LIMITS
        };
        let mut listener = LimitedListener::new(inner, limits);
        let mut clients = Vec::new();
        let mut conns = Vec::new();
        for _ in 0..2 {
            clients.push(TcpStream::connect(addr).await.unwrap());
            conns.push(axum::serve::Listener::accept(&mut listener).await.0);
        }
        let waited = tokio::time::timeout(
            Duration::from_millis(300),
            axum::serve::Listener::accept(&mut listener),
        )
        .await;
        assert!(waited.is_err(), "nobody connected");
        for conn in &conns {
            assert!(!conn.state.closing.load(Ordering::Acquire));
        }
    }

    /// A state as the listener sees it: in `phase`, sending a response for `sending` if any.
    fn state(phase: Phase, sending: Option<Duration>) -> Arc<State> {
        let mut state = State::new();
        if let Some(sending) = sending {
            // Sending since it was born, `sending` ago.
            state.born = Instant::now() - sending;
            state.sending_since.store(1, Ordering::Release);
            state.unflushed.store(true, Ordering::Release);
        }
        state.set_phase(phase);
        Arc::new(state)
    }

    fn open(states: &[Arc<State>]) -> Open {
        let open = Open::default();
        open.lock().extend(
            states
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, s)| (i as u64, s)),
        );
        open
    }

    /// See: issue #19 (review of the server, 7). A connection whose response has been going out
    /// for longer than SEND_GRACE (a client that asked for a large feed and does not read it)
    /// is closed for a newcomer once no connection without a request is left, the one sending
    /// longest first; a younger response, or a request still being handled, never is. Before
    /// the fix, such clients kept their slots until idle_timeout and could ask again.
    #[test]
    fn regression_19_responses_that_overstay_their_grace_make_room() {
        let young = SEND_GRACE / 2;
        let over = SEND_GRACE + Duration::from_secs(1);
        let longest = SEND_GRACE * 3;
        let busy = [
            state(Phase::Request, None),
            state(Phase::Idle, Some(young)),
            state(Phase::Idle, Some(over)),
            state(Phase::Idle, Some(longest)),
            state(Phase::Request, None),
        ];
        let all = open(&busy);
        assert!(all.make_room());
        let closed: Vec<bool> = busy
            .iter()
            .map(|s| s.closing.load(Ordering::Acquire))
            .collect();
        assert_eq!(closed, [false, false, false, true, false]);
        // While that one is closing, nothing else is.
        assert!(all.make_room());
        assert!(!busy[2].closing.load(Ordering::Acquire));

        // A connection without a request under way goes before any response.
        let waiting = [state(Phase::Idle, Some(longest)), state(Phase::Head, None)];
        assert!(open(&waiting).make_room());
        assert!(!waiting[0].closing.load(Ordering::Acquire));
        assert!(waiting[1].closing.load(Ordering::Acquire));

        // Requests under way and responses within their grace: nobody.
        let none = [state(Phase::Request, None), state(Phase::Idle, Some(young))];
        assert!(!open(&none).make_room());
        assert!(none.iter().all(|s| !s.closing.load(Ordering::Acquire)));
    }

    /// See: issue #19 (review of the server, 8). A request head that does not end within
    /// MAX_HEAD_BYTES closes the connection after that many bytes were read, however large the
    /// buffer it is read into (hyper's grows to about 408 KiB); the next head on a kept-alive
    /// connection has an allowance of its own. Before the fix, every byte of it was read and
    /// buffered.
    #[tokio::test]
    async fn regression_19_a_request_head_is_read_up_to_its_allowance() {
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        let mut listener = LimitedListener::new(inner, LIMITS);
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut conn, _) = axum::serve::Listener::accept(&mut listener).await;
        let sender = tokio::spawn(async move {
            let head = b"GET / HTTP/1.1\r\nX: ".iter().copied();
            let junk: Vec<u8> = head.chain(std::iter::repeat_n(b'a', 400_000)).collect();
            // The connection closes before all of it is read.
            let _ = client.write_all(&junk).await;
            client
        });
        let mut buf = vec![0u8; 512 << 10];
        let mut read = 0;
        let error = loop {
            match conn.read(&mut buf).await {
                Ok(0) => panic!("end of stream after {read} bytes"),
                Ok(n) => read += n,
                Err(e) => break e,
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(read, MAX_HEAD_BYTES);
        drop(conn);
        drop(sender.await.unwrap());

        // A kept-alive connection: a head, its request handled, then the next head.
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut conn, _) = axum::serve::Listener::accept(&mut listener).await;
        let head = vec![b'a'; MAX_HEAD_BYTES * 3 / 4];
        client.write_all(&head).await.unwrap();
        let mut got = 0;
        while got < head.len() {
            got += conn.read(&mut buf).await.unwrap();
        }
        conn.state.set_phase(Phase::Request);
        conn.state.set_phase(Phase::Idle);
        client.write_all(&head).await.unwrap();
        let mut got = 0;
        while got < head.len() {
            got += conn
                .read(&mut buf)
                .await
                .expect("a new head, a new allowance");
        }
    }
}
