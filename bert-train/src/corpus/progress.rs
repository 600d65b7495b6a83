//! How far the preparation of a corpus is, on stderr: one line redrawn on a terminal, a line
//! every few seconds otherwise (logs of batch jobs).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Receives the bytes of text read so far, out of the file's size.
pub trait Progress {
    /// `done` of `total` bytes read.
    fn update(&mut self, done: u64, total: u64);
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn update(&mut self, _done: u64, _total: u64) {}
}

/// A progress line on stderr: `preparing FILE: 120.0/1000.0 MB (12%), 48.3 MB/s`.
pub struct Bar {
    label: String,
    start: Instant,
    last: Option<Instant>,
    terminal: bool,
    drawn: bool,
}

impl Bar {
    /// A bar for the text named `label`.
    pub fn new(label: String) -> Self {
        Bar {
            label,
            start: Instant::now(),
            last: None,
            terminal: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// Ends the line (a terminal's redrawn line).
    pub fn finish(&mut self) {
        if self.terminal && self.drawn {
            eprintln!();
        }
        self.drawn = false;
    }

    /// Seconds since the bar was made.
    pub fn seconds(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn line(&self, done: u64, total: u64) -> String {
        let mb = |b: u64| b as f64 / 1e6;
        let rate = mb(done) / self.seconds().max(1e-9);
        let share = 100.0 * done as f64 / total.max(1) as f64;
        format!(
            "preparing {}: {:.1}/{:.1} MB ({share:.0}%), {rate:.1} MB/s",
            self.label,
            mb(done),
            mb(total)
        )
    }
}

impl Progress for Bar {
    fn update(&mut self, done: u64, total: u64) {
        let every = match self.terminal {
            true => Duration::from_millis(200),
            false => Duration::from_secs(10),
        };
        let now = Instant::now();
        if self.last.is_some_and(|last| now - last < every) && done < total {
            return;
        }
        self.last = Some(now);
        let line = self.line(done, total);
        let mut err = std::io::stderr().lock();
        let _ = match self.terminal {
            true => write!(err, "\r{line}\x1b[K"),
            false => writeln!(err, "{line}"),
        };
        let _ = err.flush();
        self.drawn = true;
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}
