//! The threads that run the service's handlers (`LUCID_WORKERS`). Requests reach them whole —
//! header and body already read, within their deadlines, by the I/O thread — so a slow client
//! never holds a worker, and a slow handler holds only its own worker, never `/health`.

use crate::http::{Request, Response};
use crate::log;
use serde_json::json;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Answers one request (the service's routes).
pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

struct Job {
    request: Request,
    reply: oneshot::Sender<Response>,
}

/// How often idle workers look at the shutdown flag.
const POLL: Duration = Duration::from_millis(100);

/// Hands requests to the workers; cheap to clone.
#[derive(Clone)]
pub struct Queue {
    jobs: mpsc::Sender<Job>,
    in_flight: Arc<AtomicUsize>,
}

impl Queue {
    /// The answer of a worker; a 503 when the workers are gone (shutting down).
    pub async fn answer(&self, request: Request) -> Response {
        let (reply, answer) = oneshot::channel();
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.jobs.send(Job { request, reply }).is_err() {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Response::error(503, "shutting down");
        }
        answer
            .await
            .unwrap_or_else(|_| Response::error(503, "shutting down"))
    }

    /// Requests queued or being handled.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

pub struct Workers {
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `n` workers that run `handler` until `shutdown` is set and nothing is queued.
    pub fn start(
        n: usize,
        handler: Handler,
        shutdown: Arc<AtomicBool>,
    ) -> Result<(Workers, Queue), String> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let (queue, handler, shutdown, in_flight) = (
                queue.clone(),
                handler.clone(),
                shutdown.clone(),
                in_flight.clone(),
            );
            let thread = std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || work(&queue, &handler, &shutdown, &in_flight))
                .map_err(|e| format!("cannot start worker thread: {e}"))?;
            threads.push(thread);
        }
        Ok((Workers { threads }, Queue { jobs, in_flight }))
    }

    /// Waits for the workers to finish their current request, at most until `deadline`: a
    /// handler stuck on a slow upstream must not hold the process past its stop grace period.
    pub fn join(self, deadline: Instant) {
        for t in self.threads {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

fn work(
    queue: &Mutex<mpsc::Receiver<Job>>,
    handler: &Handler,
    shutdown: &AtomicBool,
    in_flight: &AtomicUsize,
) {
    loop {
        let next = queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recv_timeout(POLL);
        let job = match next {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) if !shutdown.load(Ordering::SeqCst) => continue,
            Err(_) => return,
        };
        let (method, path) = (job.request.method.clone(), job.request.path.clone());
        let response =
            catch_unwind(AssertUnwindSafe(|| handler(job.request))).unwrap_or_else(|_| {
                log::error(
                    "handler panicked",
                    json!({ "method": method, "path": path }),
                );
                Response::error(500, "internal error")
            });
        // The client may have gone meanwhile; its answer is dropped.
        let _ = job.reply.send(response);
        in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
