//! A graceful stop for `fine-tune` on SIGTERM (what Slurm and Kubernetes send) and SIGINT
//! (Ctrl-C): the first one lets the current step finish, writes a checkpoint and ends the run
//! with status 128 + the signal's number (143, 130); a second one exits at once. SIGXFSZ is
//! ignored, so that a file-size limit is an error naming the file.

use std::sync::atomic::{AtomicI32, Ordering};

use burn_train::Interrupter;

/// The first signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// The exit status of a run a signal stopped: 128 + the signal's number.
pub fn exit_status() -> Option<u8> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some((128 + signal).clamp(0, 255) as u8),
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod handler {
    use super::*;
    use std::time::Duration;

    extern "C" fn on_signal(signal: libc::c_int) {
        // Only async-signal-safe work here: the flag, or `_exit` on a second signal.
        if RECEIVED.swap(signal, Ordering::SeqCst) != 0 {
            // SAFETY: `_exit` is async-signal-safe and takes any status.
            unsafe { libc::_exit(128 + signal) };
        }
    }

    /// Installs the handlers; a thread passes the first signal on to `interrupter` (and says
    /// so, if `announce`: one rank of a job speaks for all).
    pub fn stop_on_signals(interrupter: Interrupter, announce: bool) {
        for signal in [libc::SIGTERM, libc::SIGINT] {
            // SAFETY: the handler only touches an atomic and calls `_exit`.
            unsafe {
                libc::signal(signal, on_signal as *const () as libc::sighandler_t);
            }
        }
        // A write past a file-size limit (`ulimit -f`) fails with "File too large", reported
        // with the file's name, instead of killing the run without a word.
        // SAFETY: ignoring a signal installs no code.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
        std::thread::spawn(move || loop {
            let signal = RECEIVED.load(Ordering::SeqCst);
            if signal != 0 {
                let name = if signal == libc::SIGTERM {
                    "SIGTERM"
                } else {
                    "SIGINT"
                };
                if announce {
                    eprintln!(
                        "{name}: finishing this step, then writing a checkpoint (send it again \
                         to stop at once)"
                    );
                }
                interrupter.stop(Some(name));
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        });
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub use handler::stop_on_signals;

/// Without the handler (other platforms), signals end the run as the system does.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn stop_on_signals(_interrupter: Interrupter, _announce: bool) {}
