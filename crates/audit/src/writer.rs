//! [`AuditWriter`]: group commit of audit events for calls that persist nothing else (crypto
//! operations). Submitters queue their events and wait; one background thread takes
//! everything queued (up to [`WriterConfig::max_batch`] events), appends it in a single
//! transaction, commits (one fsync on the embedded store) and only then acknowledges every
//! submitter of the batch. While it commits, new submissions pile up and form the next batch,
//! so concurrency raises throughput instead of queueing fsyncs. A call whose acknowledgement
//! has arrived has its record on stable storage; a crash can lose only records whose callers
//! were still waiting (and so never answered their client).

use crate::error::AuditError;
use crate::event::Event;
use kmsnap_store::MetaStore;
use std::future::Future;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// Tuning of the writer.
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
    Async(oneshot::Sender<Result<(), AuditError>>),
    Blocking(mpsc::SyncSender<Result<(), AuditError>>),
}

impl Done {
    fn send(self, r: Result<(), AuditError>) {
        // A submitter that stopped waiting is fine: its events are written either way.
        match self {
            Done::Async(tx) => {
                let _ = tx.send(r);
            }
            Done::Blocking(tx) => {
                let _ = tx.send(r);
            }
        }
    }
}

struct Job {
    events: Vec<Event>,
    done: Done,
}

/// The background audit writer. Dropping it stops the thread after the queued batches are
/// written.
pub struct AuditWriter {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl AuditWriter {
    /// Starts the writer thread on `store` with the default configuration.
    pub fn start(store: Arc<dyn MetaStore>) -> Result<Self, AuditError> {
        Self::with_config(store, WriterConfig::default())
    }

    pub fn with_config(
        store: Arc<dyn MetaStore>,
        config: WriterConfig,
    ) -> Result<Self, AuditError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("kmsnap-audit".into())
            .spawn(move || run(store.as_ref(), &rx, &config))
            .map_err(|e| AuditError::BatchFailed {
                detail: format!("cannot start the audit writer thread: {e}"),
            })?;
        Ok(AuditWriter {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    fn enqueue(&self, events: Vec<Event>, done: Done) -> Result<(), AuditError> {
        let tx = self.tx.as_ref().ok_or(AuditError::WriterClosed)?;
        tx.send(Job { events, done })
            .map_err(|_| AuditError::WriterClosed)
    }

    /// Queues `events`; the future resolves once the batch holding them is durably committed.
    /// The events are queued when this is called, not when the future is first polled.
    pub fn submit(
        &self,
        events: Vec<Event>,
    ) -> impl Future<Output = Result<(), AuditError>> + Send + 'static {
        let (done, rx) = oneshot::channel();
        let queued = self.enqueue(events, Done::Async(done));
        async move {
            queued?;
            rx.await.unwrap_or(Err(AuditError::WriterClosed))
        }
    }

    /// Blocking form of [`AuditWriter::submit`]: returns once the batch holding `events` is
    /// durably committed. Blocks the thread, so async code should await [`AuditWriter::submit`]
    /// instead (or call this inside `spawn_blocking`).
    pub fn submit_wait(&self, events: Vec<Event>) -> Result<(), AuditError> {
        let (done, rx) = mpsc::sync_channel(1);
        self.enqueue(events, Done::Blocking(done))?;
        rx.recv().unwrap_or(Err(AuditError::WriterClosed))
    }
}

impl Drop for AuditWriter {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop once the queue is drained.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(store: &dyn MetaStore, rx: &mpsc::Receiver<Job>, config: &WriterConfig) {
    let max = config.max_batch.max(1);
    while let Ok(first) = rx.recv() {
        let mut n = first.events.len();
        let mut jobs = vec![first];
        let deadline = std::time::Instant::now() + config.linger;
        while n < max {
            let next = if config.linger.is_zero() {
                rx.try_recv().ok()
            } else {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                rx.recv_timeout(left).ok()
            };
            let Some(job) = next else { break };
            n += job.events.len();
            jobs.push(job);
        }
        let result = write_batch(store, &jobs);
        for job in jobs {
            let r = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(AuditError::BatchFailed {
                    detail: e.to_string(),
                }),
            };
            job.done.send(r);
        }
    }
}

fn write_batch(store: &dyn MetaStore, jobs: &[Job]) -> Result<(), AuditError> {
    kmsnap_store::transact(store, |txn| {
        for job in jobs {
            crate::log::append(txn, &job.events)?;
        }
        Ok::<(), AuditError>(())
    })
}
