//! Terminal output: the pipeline's events drawn as indicatif bars and lines on stderr.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use lucid_pipeline::{Event, Task};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// One bar per running task; bars are hidden automatically when stderr is not a terminal.
pub struct Progress {
    multi: MultiProgress,
    bars: Mutex<HashMap<Task, ProgressBar>>,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
        }
    }

    pub fn show(&self, event: Event) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Step { number, of, title } => {
                self.multi.suspend(|| eprintln!("[{number}/{of}] {title}"))
            }
            Event::Note(line) => self.multi.suspend(|| eprintln!("{line}")),
            Event::Begin { task, total } => {
                let bar = self.multi.add(bar(total, &task.label()));
                bars.insert(task, bar);
            }
            Event::Advance { task, by, message } => {
                if let Some(bar) = bars.get(&task) {
                    bar.inc(by);
                    if let Some(m) = message {
                        bar.set_message(m);
                    }
                }
            }
            Event::End { task } => {
                if let Some(bar) = bars.remove(&task) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
            }
        }
    }
}

/// A bar of `len` steps labelled `prefix`.
fn bar(len: u64, prefix: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>14.bold} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .expect("static template")
            .progress_chars("=> "),
    );
    pb.set_prefix(prefix.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// Paths on the command line are relative to where the user stands.
pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}
