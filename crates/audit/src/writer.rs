//! [`AuditWriter`]: how the records of calls that persist nothing else (crypto operations)
//! reach the log, with each call acknowledged only once its record is durable. Three modes:
//!
//! - **Journal** ([`AuditWriter::with_journal`], the embedded store): the calling thread
//!   serialises its event and queues it; a journal writer thread takes everything queued and
//!   writes it to the audit journal (`journal.rs`) with one synchronous write, and only then
//!   acknowledges those calls; while it writes, new submissions pile up and form the next
//!   batch (and while calls queue for the CPU, it lets a batch gather a little longer: see
//!   [`Pace`]). A mover thread then takes the acknowledged records in large batches
//!   (thousands per transaction) into the hash-chained log, stored in packs (`pack.rs`),
//!   recording in the same transaction how far the journal is moved; startup recovery moves
//!   whatever a crash left behind. A crash can lose only records whose callers were still
//!   waiting (and so never answered their client).
//! - **Memory** ([`AuditWriter::in_memory`], `--memory`): nothing is durable anyway, so a
//!   submission is acknowledged at once and the mover appends it to the log.
//! - **Direct** ([`AuditWriter::start`]): the mover appends each batch to the log and
//!   acknowledges its submitters after the commit (tests and tools: a call's record is in the
//!   log when the call returns).
//!
//! In the first two modes the log trails the acknowledgements by up to the mover's linger:
//! readers that must see every acknowledged call ([`Cloudtrail`](crate::Cloudtrail)'s
//! LookupEvents) wait for [`AuditWriter::flushed`] first.
//!
//! Why a journal and not the database (issue #4): a redb commit that is durable costs two
//! commits and an fsync (~400 µs on the project's VM) and batches could not grow past the
//! calls in flight, so crypto calls fell from ~50k to ~9k/s at 8 connections. A journal batch
//! is one `O_DIRECT | O_DSYNC` write of a few KiB (~80–100 µs), and the per-record database
//! work moves off the request path into large transactions.
//!
//! CPU per call (2-core VM, kms_bench crypto calls at 64 connections, server CPU time per
//! request): ~50 µs with the first journal version, against ~28 µs with no audit at all. The
//! mover spent ~11 µs per record (a 1–2 KiB JSON value per record, the event escaped inside
//! it, plus its index row); packs (`pack.rs`) cut that to ~4.5. The journal writer spent
//! ~7 µs (a write costs ~30–40 µs of CPU, mostly kernel and context switches, and carried ~5
//! records); lingering while calls queue for the CPU cut that to ~3.5. At 8 connections the
//! calls do not queue, batches stay at ~3 records, and the write's CPU (~12 µs per call) is
//! the largest audit cost left.

use crate::error::AuditError;
use crate::event::Event;
use crate::journal::{fits, journal_error, JournalConfig};
use crate::log::{append_filed, set_journal_moved, Filed, Layout};
use kmsnap_store::journal::{AckOrder, Batch, DirIo, Journal, JournalIo};
use kmsnap_store::{MetaStore, StoreError};
use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Tuning of the direct mode.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Most events in one transaction.
    pub max_batch: usize,
    /// How long the writer waits for more submissions after the first of a batch. Zero relies
    /// on natural grouping (submissions that arrive during a commit).
    pub linger: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_batch: 1024,
            linger: Duration::ZERO,
        }
    }
}

/// How a submitter waits: a future (async callers) or a blocked thread. A plain channel for the
/// blocking case, because tokio's `blocking_recv` panics inside a runtime.
enum Done {
    Async(oneshot::Sender<Answer>),
    Blocking(mpsc::SyncSender<Result<(), AuditError>>),
}

/// An async submitter's answer, and when the journal sent it (ns on the [`Pace`] clock; 0 from
/// the other modes).
type Answer = (Result<(), AuditError>, u64);

impl Done {
    fn send(self, r: Result<(), AuditError>) {
        self.send_at(r, 0);
    }

    fn send_at(self, r: Result<(), AuditError>, at: u64) {
        // A submitter that stopped waiting is fine: its events are written either way.
        match self {
            Done::Async(tx) => {
                let _ = tx.send((r, at));
            }
            Done::Blocking(tx) => {
                let _ = tx.send(r);
            }
        }
    }
}

fn failed(detail: &str) -> AuditError {
    AuditError::BatchFailed {
        detail: detail.to_owned(),
    }
}

/// One submission on its way to the journal thread.
struct Job {
    records: Vec<Filed>,
    done: Done,
}

/// Records waiting for the mover.
struct Pending {
    /// Position of the last record (its jseq, or a counter in the other modes).
    last: u64,
    records: Vec<Filed>,
    /// Direct mode: acknowledged after the commit.
    done: Option<Done>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Direct,
    Memory,
    Journal,
}

/// The mover's queue and progress; one lock, held briefly.
struct Queue {
    items: VecDeque<Pending>,
    records: usize,
    /// Every position up to this is in the log (or, direct mode, failed and answered so).
    moved: u64,
    /// Positions handed out (memory and direct modes).
    assigned: u64,
    /// A flush is waiting: skip the linger.
    urgent: bool,
    /// The mover waits for records (an empty queue): the next record wakes it. While it
    /// lingers over a batch it is not woken for every record.
    mover_idle: bool,
    /// The writer is being dropped: the journal thread stops waiting for the mover.
    closing: bool,
    shutdown: bool,
    /// Bumped by a reset: batches taken before it are dropped.
    epoch: u64,
    /// Moves that failed so far (flushes fail rather than wait forever), and the reason while
    /// the last move failed.
    failures: u64,
    last_error: String,
    failing: bool,
    waiters: Vec<(u64, oneshot::Sender<Result<(), AuditError>>)>,
}

struct Shared {
    store: Arc<dyn MetaStore>,
    mode: Mode,
    /// Journal mode: how busy the submitters' threads are, which decides how long a journal
    /// writer lets a batch gather.
    pace: Pace,
    /// Journal mode: the longest a writer lets a batch gather ([`JournalConfig::max_linger`]).
    max_linger: Duration,
    queue: Mutex<Queue>,
    /// The mover waits here for work.
    work: Condvar,
    /// Flushes and a journal thread held back by `max_pending` wait here for progress.
    progress: Condvar,
    /// Held by the mover for the whole of a move, so a reset can wait for it.
    moving: Mutex<()>,
    /// Journal mode: the segments; held by a journal writer while it reserves a batch.
    journal: Option<Mutex<JournalState>>,
    /// Journal mode: written batches waiting to be acknowledged in order.
    completion: Mutex<AckOrder<Finished>>,
    /// Signalled when batches are acknowledged (a reset waits for writes in flight).
    completed: Condvar,
    /// Every record up to this position has been acknowledged.
    acked: AtomicU64,
    /// Journal mode: the segment size (a record must fit in one).
    segment_bytes: u64,
    max_move: usize,
    max_pending: usize,
    linger: Duration,
    hold_mover: bool,
}

struct JournalState {
    segments: Journal,
    /// Set by a failed write or sync: what reached the disk is unknown, so nothing more is
    /// written (calls fail) until a restart recovers the journal.
    broken: Option<String>,
}

/// The mover's settings, and the journal writers' longest linger.
struct Tuning {
    max_move: usize,
    max_pending: usize,
    linger: Duration,
    hold_mover: bool,
    max_linger: Duration,
}

impl Tuning {
    fn of(c: &JournalConfig) -> Tuning {
        Tuning {
            max_move: c.max_move.max(1),
            max_pending: c.max_pending.max(1),
            linger: c.move_linger,
            hold_mover: c.hold_mover,
            max_linger: c.max_linger,
        }
    }
}

/// How long woken submitters take to resume, as the journal sees it: the time from a batch's
/// acknowledgement until its async submitters run again, smoothed. That is how long a task
/// waits for a CPU once it is ready, so it says whether lingering costs anything:
///
/// - small: the submitters' threads have CPU to spare and nothing else queues for it, so a
///   batch is written the moment the device is free (at low concurrency the journal's latency
///   *is* the call's latency);
/// - large: calls queue for the CPU, which is the bottleneck. Each journal write costs ~30 µs
///   of CPU in the kernel however few records it carries, so a writer then lets the batch
///   gather for a while (a fraction of that delay, at most [`JournalConfig::max_linger`]):
///   fewer, larger writes leave more CPU to the calls. The wait lengthens the journal's part of
///   a call's latency but shortens the CPU queue, and the delay it is derived from shrinks
///   again as soon as the CPU catches up.
///
/// Submitters that block a thread (`submit_wait`) do not report: their thread waits on its own.
struct Pace {
    epoch: Instant,
    /// Smoothed resume delay in ns (an exponential average over recent submitters; updates
    /// race, which only makes it coarser).
    delay: AtomicU64,
    /// When a submitter last reported (ns since `epoch`).
    reported: AtomicU64,
}

/// Below this resume delay a writer never lingers.
const LINGER_FROM: Duration = Duration::from_micros(200);
/// A delay reported longer ago than this is stale (the load that caused it is gone): a quiet
/// period never leaves the next calls lingering.
const PACE_STALE: Duration = Duration::from_millis(5);

impl Pace {
    fn new() -> Pace {
        Pace {
            epoch: Instant::now(),
            delay: AtomicU64::new(0),
            reported: AtomicU64::new(0),
        }
    }

    /// Now, in ns since `epoch` (never 0).
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).map_or(u64::MAX, |n| n.max(1))
    }

    /// A submitter answered at `acked` (a [`Pace::now`]) runs again.
    fn resumed(&self, acked: u64) {
        self.resumed_at(self.now(), acked);
    }

    fn resumed_at(&self, now: u64, acked: u64) {
        let d = now.saturating_sub(acked);
        let old = self.delay.load(Ordering::Relaxed);
        self.delay.store(old - old / 16 + d / 16, Ordering::Relaxed);
        self.reported.store(now, Ordering::Relaxed);
    }

    /// How long a writer that just took a batch lets it gather before writing it.
    fn linger(&self, max: Duration) -> Duration {
        self.linger_at(self.now(), max)
    }

    fn linger_at(&self, now: u64, max: Duration) -> Duration {
        let since = now.saturating_sub(self.reported.load(Ordering::Relaxed));
        if Duration::from_nanos(since) > PACE_STALE {
            return Duration::ZERO;
        }
        let delay = Duration::from_nanos(self.delay.load(Ordering::Relaxed));
        if delay < LINGER_FROM {
            return Duration::ZERO;
        }
        (delay / 2).min(max)
    }
}

fn poisoned() -> AuditError {
    failed("audit writer lock poisoned (a thread panicked)")
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, AuditError> {
    m.lock().map_err(|_| poisoned())
}

/// The background audit writer (see the module documentation). Dropping it stops its threads
/// after every queued record is written and moved into the log.
pub struct AuditWriter {
    shared: Arc<Shared>,
    /// Journal mode: submissions for the journal thread.
    tx: Option<mpsc::Sender<Job>>,
    journal_threads: Vec<JoinHandle<()>>,
    mover_thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.shared.mode {
            Mode::Direct => "direct",
            Mode::Memory => "memory",
            Mode::Journal => "journal",
        };
        f.debug_struct("AuditWriter")
            .field("mode", &mode)
            .finish_non_exhaustive()
    }
}

impl AuditWriter {
    /// Direct mode with the default configuration.
    pub fn start(store: Arc<dyn MetaStore>) -> Result<Self, AuditError> {
        Self::with_config(store, WriterConfig::default())
    }

    /// Direct mode: each batch is appended to the log and its submitters are acknowledged
    /// after the commit.
    pub fn with_config(
        store: Arc<dyn MetaStore>,
        config: WriterConfig,
    ) -> Result<Self, AuditError> {
        Self::spawn(
            store,
            Mode::Direct,
            None,
            0,
            Tuning {
                max_move: config.max_batch.max(1),
                max_pending: usize::MAX,
                linger: config.linger,
                hold_mover: false,
                max_linger: Duration::ZERO,
            },
        )
    }

    /// Memory mode (a store that keeps nothing on disk): submissions are acknowledged at once
    /// and moved into the log in the background.
    pub fn in_memory(store: Arc<dyn MetaStore>) -> Result<Self, AuditError> {
        let c = JournalConfig::default();
        Self::spawn(store, Mode::Memory, None, 0, Tuning::of(&c))
    }

    /// Journal mode on the audit journal in `dir` (normally `<data-dir>/`[`JOURNAL_DIR`](crate::JOURNAL_DIR)):
    /// first moves every record a previous run left in the journal into the log (recovery),
    /// then starts the journal and mover threads. Call before serving.
    pub fn with_journal(
        store: Arc<dyn MetaStore>,
        dir: &Path,
        config: JournalConfig,
    ) -> Result<Self, AuditError> {
        Self::with_journal_io(store, Arc::new(DirIo::new(dir)), config)
    }

    /// Journal mode on the journal files of `io` (a directory, or a fault-injecting one in
    /// crash tests).
    pub fn with_journal_io(
        store: Arc<dyn MetaStore>,
        io: Arc<dyn JournalIo>,
        config: JournalConfig,
    ) -> Result<Self, AuditError> {
        let (segments, at) = crate::journal::open(store.as_ref(), io, &config)?;
        Self::spawn(
            store,
            Mode::Journal,
            Some(JournalState {
                segments,
                broken: None,
            }),
            at,
            Tuning::of(&config),
        )
        .and_then(|mut w| {
            let (tx, rx) = mpsc::channel::<Job>();
            let rx = Arc::new(Mutex::new(rx));
            let max_batch = config.max_batch.max(1);
            for i in 0..config.writers.max(1) {
                let shared = w.shared.clone();
                let rx = rx.clone();
                let t = std::thread::Builder::new()
                    .name(format!("kmsnap-audit-j{i}"))
                    .spawn(move || journal_loop(&shared, &rx, max_batch))
                    .map_err(|e| failed(&format!("cannot start an audit journal thread: {e}")))?;
                w.journal_threads.push(t);
            }
            w.tx = Some(tx);
            Ok(w)
        })
    }

    fn spawn(
        store: Arc<dyn MetaStore>,
        mode: Mode,
        journal: Option<JournalState>,
        at: u64,
        tuning: Tuning,
    ) -> Result<Self, AuditError> {
        let journal_bytes = journal.as_ref().map_or(0, |j| j.segments.segment_bytes());
        let Tuning {
            max_move,
            max_pending,
            linger,
            hold_mover,
            max_linger,
        } = tuning;
        let shared = Arc::new(Shared {
            store,
            mode,
            pace: Pace::new(),
            max_linger,
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                records: 0,
                moved: at,
                assigned: at,
                urgent: false,
                mover_idle: false,
                closing: false,
                shutdown: false,
                epoch: 0,
                failures: 0,
                last_error: String::new(),
                failing: false,
                waiters: Vec::new(),
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
            moving: Mutex::new(()),
            journal: journal.map(Mutex::new),
            completion: Mutex::new(AckOrder::default()),
            completed: Condvar::new(),
            acked: AtomicU64::new(at),
            segment_bytes: journal_bytes,
            max_move,
            max_pending,
            linger,
            hold_mover,
        });
        let s = shared.clone();
        let mover = std::thread::Builder::new()
            .name("kmsnap-audit-mover".into())
            .spawn(move || mover_loop(&s))
            .map_err(|e| failed(&format!("cannot start the audit mover thread: {e}")))?;
        Ok(AuditWriter {
            shared,
            tx: None,
            journal_threads: Vec::new(),
            mover_thread: Some(mover),
        })
    }

    /// Queues `events` (serialised on the calling thread); `done` is told when they are
    /// durable, or at once in memory mode.
    fn enqueue(&self, events: &[Event], done: Done) -> Result<(), AuditError> {
        let records = Filed::file_all(events)?;
        match self.shared.mode {
            Mode::Journal => {
                if let Some(big) = records.iter().find(|r| !fits(r, self.shared.segment_bytes)) {
                    return Err(AuditError::Encode {
                        detail: format!(
                            "audit record of {} bytes is too large for the journal",
                            big.event.len()
                        ),
                    });
                }
                let tx = self.tx.as_ref().ok_or(AuditError::WriterClosed)?;
                tx.send(Job { records, done })
                    .map_err(|_| AuditError::WriterClosed)
            }
            Mode::Memory => {
                let mut q = lock(&self.shared.queue)?;
                let held_back = q.records >= self.shared.max_pending;
                let last = push(&mut q, records, None);
                self.shared.acked.store(last, Ordering::SeqCst);
                wake_mover(&self.shared, &mut q);
                if held_back {
                    // The mover is far behind: this submitter waits for it.
                    q.urgent = true;
                    drop(q);
                    self.wait_moved(last)?;
                }
                done.send(Ok(()));
                Ok(())
            }
            Mode::Direct => {
                let mut q = lock(&self.shared.queue)?;
                push(&mut q, records, Some(done));
                wake_mover(&self.shared, &mut q);
                Ok(())
            }
        }
    }

    /// Queues `events`; the future resolves once they are durable (journal: synced; direct:
    /// committed to the log; memory: at once). The events are queued when this is called,
    /// not when the future is first polled.
    pub fn submit(
        &self,
        events: Vec<Event>,
    ) -> impl Future<Output = Result<(), AuditError>> + Send + 'static {
        self.submit_one_of(&events)
    }

    /// [`AuditWriter::submit`] for one event, without the vector.
    pub fn submit_event(
        &self,
        event: &Event,
    ) -> impl Future<Output = Result<(), AuditError>> + Send + 'static {
        self.submit_one_of(std::slice::from_ref(event))
    }

    fn submit_one_of(
        &self,
        events: &[Event],
    ) -> impl Future<Output = Result<(), AuditError>> + Send + 'static {
        let (done, rx) = oneshot::channel();
        let queued = self.enqueue(events, Done::Async(done));
        let pace = (self.shared.mode == Mode::Journal).then(|| self.shared.clone());
        async move {
            queued?;
            let (r, acked) = rx.await.unwrap_or((Err(AuditError::WriterClosed), 0));
            if let Some(shared) = pace.filter(|_| acked != 0) {
                shared.pace.resumed(acked);
            }
            r
        }
    }

    /// Blocking form of [`AuditWriter::submit`]: returns once `events` are durable. Blocks the
    /// thread, so async code should await [`AuditWriter::submit`] instead (or call this inside
    /// `spawn_blocking`).
    pub fn submit_wait(&self, events: Vec<Event>) -> Result<(), AuditError> {
        self.submit_event_wait_all(&events)
    }

    /// [`AuditWriter::submit_wait`] for one event.
    pub fn submit_event_wait(&self, event: &Event) -> Result<(), AuditError> {
        self.submit_event_wait_all(std::slice::from_ref(event))
    }

    fn submit_event_wait_all(&self, events: &[Event]) -> Result<(), AuditError> {
        let (done, rx) = mpsc::sync_channel(1);
        self.enqueue(events, Done::Blocking(done))?;
        rx.recv().unwrap_or(Err(AuditError::WriterClosed))
    }

    /// Blocks until every record acknowledged so far is in the log.
    pub fn flush(&self) -> Result<(), AuditError> {
        if self.shared.mode == Mode::Direct {
            return Ok(());
        }
        let target = self.shared.acked.load(Ordering::SeqCst);
        self.wait_moved(target)
    }

    fn wait_moved(&self, target: u64) -> Result<(), AuditError> {
        let mut q = lock(&self.shared.queue)?;
        let failures = q.failures;
        while q.moved < target {
            if q.failures > failures {
                return Err(failed(&q.last_error));
            }
            if q.shutdown {
                return Err(AuditError::WriterClosed);
            }
            q.urgent = true;
            self.shared.work.notify_one();
            q = self.shared.progress.wait(q).map_err(|_| poisoned())?;
        }
        Ok(())
    }

    /// [`AuditWriter::flush`] for async callers.
    pub fn flushed(&self) -> impl Future<Output = Result<(), AuditError>> + Send + 'static {
        let rx = if self.shared.mode == Mode::Direct {
            Ok(None)
        } else {
            let target = self.shared.acked.load(Ordering::SeqCst);
            lock(&self.shared.queue).map(|mut q| {
                if q.moved >= target {
                    return None;
                }
                let (tx, rx) = oneshot::channel();
                q.waiters.push((target, tx));
                q.urgent = true;
                self.shared.work.notify_one();
                Some(rx)
            })
        };
        async move {
            match rx? {
                None => Ok(()),
                Some(rx) => rx.await.unwrap_or(Err(AuditError::WriterClosed)),
            }
        }
    }

    /// Dev-mode reset: with the writer paused, drops every record not yet in the log, empties
    /// the journal (before the store, so a crash in between cannot bring old records back),
    /// then runs `wipe` (which empties the store). Submissions made meanwhile wait and land
    /// after it.
    pub fn reset(&self, wipe: impl FnOnce() -> Result<(), StoreError>) -> Result<(), AuditError> {
        let mut journal = match &self.shared.journal {
            Some(j) => Some(lock(j)?),
            None => None,
        };
        if let Some(j) = &journal {
            // Writes in flight finish (and are acknowledged) first.
            let reserved = j.segments.batches();
            let mut c = lock(&self.shared.completion)?;
            while c.next() < reserved {
                c = self.shared.completed.wait(c).map_err(|_| poisoned())?;
            }
        }
        let _moving = lock(&self.shared.moving)?;
        if self.shared.mode != Mode::Direct {
            let mut q = lock(&self.shared.queue)?;
            q.items.clear();
            q.records = 0;
            q.epoch += 1;
            q.moved = q.moved.max(self.shared.acked.load(Ordering::SeqCst));
            release_waiters(&mut q);
            self.shared.progress.notify_all();
        }
        if let Some(j) = journal.as_mut() {
            j.segments.discard().map_err(journal_error)?;
        }
        wipe()?;
        Ok(())
    }
}

/// Wakes the mover for records just queued, when it needs waking: it waits for the first
/// record, or a full batch.
fn wake_mover(shared: &Shared, q: &mut Queue) {
    if q.mover_idle || q.records >= shared.max_move {
        q.mover_idle = false;
        shared.work.notify_one();
    }
}

/// Adds `records` to the queue at the next positions (memory and direct modes); returns the
/// last position.
fn push(q: &mut Queue, records: Vec<Filed>, done: Option<Done>) -> u64 {
    q.assigned += records.len() as u64;
    let last = q.assigned;
    q.records += records.len();
    q.items.push_back(Pending {
        last,
        records,
        done,
    });
    last
}

/// Answers the flushes whose target is reached.
fn release_waiters(q: &mut Queue) {
    let moved = q.moved;
    let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut q.waiters)
        .into_iter()
        .partition(|(target, _)| *target <= moved);
    q.waiters = waiting;
    for (_, tx) in ready {
        let _ = tx.send(Ok(()));
    }
    q.urgent |= !q.waiters.is_empty();
}

impl Drop for AuditWriter {
    fn drop(&mut self) {
        // Closing the channel ends the journal thread once its queue is written; then the
        // mover moves what is left and stops.
        if let Ok(mut q) = self.shared.queue.lock() {
            q.closing = true;
            self.shared.progress.notify_all();
        }
        self.tx.take();
        for t in self.journal_threads.drain(..) {
            let _ = t.join();
        }
        if let Ok(mut q) = self.shared.queue.lock() {
            q.shutdown = true;
            self.shared.work.notify_all();
            self.shared.progress.notify_all();
        }
        if let Some(t) = self.mover_thread.take() {
            let _ = t.join();
        }
    }
}

/// A journal writer thread (several run): takes everything queued, reserves its jseqs and
/// room under the journal lock, writes it durably outside the lock, and hands it to
/// [`complete`], which acknowledges batches in jseq order.
fn journal_loop(shared: &Shared, rx: &Mutex<mpsc::Receiver<Job>>, max_batch: usize) {
    let Some(journal) = &shared.journal else {
        return;
    };
    let mut buf = Batch::default();
    loop {
        let mut jobs = Vec::new();
        let mut n = 0;
        {
            // One idle writer waits on the channel; the others wait for this lock.
            let Ok(rx) = rx.lock() else { return };
            let Ok(first) = rx.recv() else { return };
            n += first.records.len();
            jobs.push(first);
            let drain = |jobs: &mut Vec<Job>, n: &mut usize| {
                while *n < max_batch {
                    let Ok(job) = rx.try_recv() else { break };
                    *n += job.records.len();
                    jobs.push(job);
                }
            };
            drain(&mut jobs, &mut n);
            // Submitters queue for the CPU: let the batch gather (see `Pace`). A plain sleep,
            // so that submissions meanwhile wake nobody.
            let linger = shared.pace.linger(shared.max_linger);
            if n < max_batch && !linger.is_zero() {
                std::thread::sleep(linger);
                drain(&mut jobs, &mut n);
            }
        }
        let mut records = Vec::with_capacity(n);
        let mut dones = Vec::with_capacity(jobs.len());
        for job in jobs {
            records.extend(job.records);
            dones.push(job.done);
        }
        if let Err(why) = hold_back(shared) {
            fail_all(dones, &why);
            continue;
        }
        let reserved = match journal.lock() {
            Err(_) => Err("audit journal lock poisoned".to_owned()),
            Ok(mut j) => match &j.broken {
                Some(why) => Err(why.clone()),
                None => j.segments.reserve(&records, &mut buf).map_err(|e| {
                    let why = format!("audit journal write failed: {e}");
                    report(&why);
                    j.broken = Some(why.clone());
                    why
                }),
            },
        };
        let reserved = match reserved {
            Ok(r) => r,
            Err(why) => {
                fail_all(dones, &why);
                continue;
            }
        };
        let result = buf.write().map_err(|e| {
            let why = format!("audit journal write failed: {e}");
            report(&why);
            if let Ok(mut j) = journal.lock() {
                j.broken.get_or_insert_with(|| why.clone());
            }
            why
        });
        complete(
            shared,
            reserved.batch,
            Finished {
                last_jseq: reserved.last_jseq,
                records,
                dones,
            },
            result,
        );
    }
}

fn fail_all(dones: Vec<Done>, why: &str) {
    for d in dones {
        d.send(Err(failed(why)));
    }
}

/// Back-pressure: a mover that fails or lags far behind stops new acknowledgements rather
/// than letting unbounded records pile up in memory.
fn hold_back(shared: &Shared) -> Result<(), String> {
    let mut q = shared
        .queue
        .lock()
        .map_err(|_| "audit queue lock poisoned".to_owned())?;
    while q.records >= shared.max_pending && !q.closing {
        if q.failing {
            return Err(format!(
                "audit log is not accepting records: {}",
                q.last_error
            ));
        }
        q.urgent = true;
        shared.work.notify_one();
        q = shared
            .progress
            .wait(q)
            .map_err(|_| "audit queue lock poisoned".to_owned())?;
    }
    Ok(())
}

/// A written batch waiting for its turn to be acknowledged.
struct Finished {
    last_jseq: u64,
    records: Vec<Filed>,
    dones: Vec<Done>,
}

/// Batches finish in any order; they are acknowledged (and handed to the mover) in jseq
/// order, each once it and every batch before it are durable ([`AckOrder`]). After a failed
/// batch nothing more is acknowledged (the journal may end there after a crash).
fn complete(shared: &Shared, batch: u64, finished: Finished, result: Result<(), String>) {
    let mut answers: Vec<(Vec<Done>, Result<(), String>)> = Vec::new();
    if let Ok(mut c) = shared.completion.lock() {
        for (f, result) in c.finish(batch, finished, result) {
            if result.is_ok() {
                if let Ok(mut q) = shared.queue.lock() {
                    q.records += f.records.len();
                    q.items.push_back(Pending {
                        last: f.last_jseq,
                        records: f.records,
                        done: None,
                    });
                    shared.acked.store(f.last_jseq, Ordering::SeqCst);
                    wake_mover(shared, &mut q);
                }
            }
            answers.push((f.dones, result));
        }
        shared.completed.notify_all();
    }
    let at = shared.pace.now();
    for (dones, result) in answers {
        for d in dones {
            d.send_at(result.clone().map_err(|why| failed(&why)), at);
        }
    }
}

/// A failure of the journal or the mover: logged once here, and returned to every caller it
/// affects.
fn report(msg: &str) {
    tracing::error!(error = msg, "audit writer");
}

/// The mover: takes queued records in large batches into the log.
fn mover_loop(shared: &Shared) {
    let mut retry_at: Option<Instant> = None;
    loop {
        let Ok(mut q) = shared.queue.lock() else {
            return;
        };
        // Wait for work: records, then the linger (cut short by a flush or a full batch).
        let mut since: Option<Instant> = None;
        loop {
            if q.shutdown && (q.items.is_empty() || shared.hold_mover) {
                return;
            }
            if shared.hold_mover {
                q = match shared.work.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
                continue;
            }
            let now = Instant::now();
            if let Some(at) = retry_at.filter(|at| *at > now && !q.shutdown) {
                q = match shared.work.wait_timeout(q, at - now) {
                    Ok((q, _)) => q,
                    Err(_) => return,
                };
                continue;
            }
            if !q.items.is_empty() {
                let first = *since.get_or_insert(now);
                let waited = now.duration_since(first);
                if q.urgent || q.shutdown || q.records >= shared.max_move || waited >= shared.linger
                {
                    break;
                }
                q = match shared.work.wait_timeout(q, shared.linger - waited) {
                    Ok((q, _)) => q,
                    Err(_) => return,
                };
                continue;
            }
            since = None;
            q.mover_idle = true;
            q = match shared.work.wait(q) {
                Ok(q) => q,
                Err(_) => return,
            };
            q.mover_idle = false;
        }
        q.urgent = false;
        let epoch = q.epoch;
        let mut batch = Vec::new();
        let mut n = 0;
        while n < shared.max_move {
            let Some(p) = q.items.pop_front() else { break };
            n += p.records.len();
            batch.push(p);
        }
        q.records -= n;
        drop(q);

        let Ok(moving) = shared.moving.lock() else {
            return;
        };
        let Ok(q) = shared.queue.lock() else { return };
        if q.epoch != epoch {
            // A reset dropped these while they waited.
            continue;
        }
        drop(q);
        let Some(last) = batch.last().map(|p| p.last) else {
            continue;
        };
        let result = kmsnap_store::transact(shared.store.as_ref(), |txn| {
            // Direct mode keeps one record per value (its callers and their tests read the log
            // record by record); the others move many records at once, in packs.
            let layout = if shared.mode == Mode::Direct {
                Layout::Single
            } else {
                Layout::Packed
            };
            append_filed(txn, batch.iter().flat_map(|p| p.records.iter()), layout)?;
            if shared.mode == Mode::Journal {
                set_journal_moved(txn, last)?;
            }
            Ok::<(), AuditError>(())
        });
        drop(moving);

        let Ok(mut q) = shared.queue.lock() else {
            return;
        };
        match result {
            Ok(()) => {
                retry_at = None;
                q.failing = false;
                q.moved = q.moved.max(last);
                release_waiters(&mut q);
                drop(q);
                for p in batch {
                    if let Some(done) = p.done {
                        done.send(Ok(()));
                    }
                }
                shared.progress.notify_all();
                if shared.mode == Mode::Journal {
                    recycle(shared, last);
                }
            }
            Err(e) => {
                let why = e.to_string();
                q.failures += 1;
                q.failing = true;
                q.last_error.clone_from(&why);
                for (_, tx) in q.waiters.drain(..) {
                    let _ = tx.send(Err(failed(&why)));
                }
                if shared.mode == Mode::Direct {
                    // The submitters are told; their records are not written.
                    q.moved = q.moved.max(last);
                    drop(q);
                    for p in batch {
                        if let Some(done) = p.done {
                            done.send(Err(failed(&why)));
                        }
                    }
                } else {
                    // Durable (journal) or acknowledged (memory): keep them, try again.
                    report(&format!("moving audit records into the log failed: {why}"));
                    for p in batch.into_iter().rev() {
                        q.records += p.records.len();
                        q.items.push_front(p);
                    }
                    if q.shutdown {
                        // Stopping: they stay in the journal for the next start.
                        return;
                    }
                    retry_at = Some(Instant::now() + Duration::from_millis(500));
                    drop(q);
                }
                shared.progress.notify_all();
            }
        }
    }
}

/// After a move up to `moved`: segments wholly in the log become spares (or go), and a spare
/// is made ready ahead of the writer's next switch. File work happens outside the journal
/// lock, which the writer needs for every batch.
fn recycle(shared: &Shared, moved: u64) {
    let Some(journal) = &shared.journal else {
        return;
    };
    let retire = {
        let Ok(mut j) = journal.lock() else { return };
        if j.broken.is_some() {
            return;
        }
        j.segments.retire(moved)
    };
    if retire.is_empty() {
        return;
    }
    let spare = retire.run(|e| report(&format!("recycling audit journal segments: {e}")));
    if let Some(spare) = spare {
        if let Ok(mut j) = journal.lock() {
            j.segments.add_spare(spare);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_lingers_only_while_submitters_resume_late() {
        const MS: u64 = 1_000_000;
        let max = Duration::from_micros(500);
        let pace = Pace::new();
        // Nothing reported yet.
        assert_eq!(pace.linger_at(0, max), Duration::ZERO);
        // Submitters resume promptly (20 µs): never linger.
        let mut now = 10 * MS;
        for _ in 0..64 {
            now += 100_000;
            pace.resumed_at(now, now - 20_000);
        }
        assert_eq!(pace.linger_at(now, max), Duration::ZERO);
        // They resume 2 ms late (a long CPU queue): linger half of that, capped.
        for _ in 0..200 {
            now += 100_000;
            pace.resumed_at(now, now - 2 * MS);
        }
        assert_eq!(pace.linger_at(now, max), max);
        let half = pace.linger_at(now, Duration::from_secs(1));
        assert!(
            half > Duration::from_micros(900) && half <= Duration::from_millis(1),
            "{half:?}"
        );
        assert_eq!(pace.linger_at(now, Duration::ZERO), Duration::ZERO);
        // A quiet spell makes the measurement stale.
        let later = now + u64::try_from(PACE_STALE.as_nanos()).unwrap() + 1;
        assert_eq!(pace.linger_at(later, max), Duration::ZERO);
        // And the real clock agrees with itself.
        let t = pace.now();
        pace.resumed(t);
        assert!(pace.now() >= t);
    }
}
