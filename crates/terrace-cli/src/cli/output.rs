//! Every line the CLI prints goes through here. A reader that goes away (`terrace stacks |
//! head -1`, `plan --json | head -c 10`) closes the pipe; Rust ignores SIGPIPE, so the write
//! fails with `BrokenPipe`, which `println!` turns into a panic (exit 101). Here such a write
//! ends that stream quietly instead: later writes to it are skipped, and the command carries
//! on and exits with its own code (an apply whose output nobody reads still finishes and
//! records its state). Any other write error is treated the same way: output is best effort.

use std::fmt::Arguments;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

/// Writes to standard output; once a write fails, standard output is left alone.
pub fn stdout(args: Arguments) {
    write_to(&mut std::io::stdout().lock(), &STDOUT_GONE, args);
}

/// Writes to standard error; once a write fails, standard error is left alone.
pub fn stderr(args: Arguments) {
    write_to(&mut std::io::stderr().lock(), &STDERR_GONE, args);
}

fn write_to(stream: &mut impl Write, gone: &AtomicBool, args: Arguments) {
    if gone.load(Ordering::Relaxed) {
        return;
    }
    if stream
        .write_fmt(args)
        .and_then(|()| stream.flush())
        .is_err()
    {
        gone.store(true, Ordering::Relaxed);
    }
}

/// `print!` that ends quietly when standard output is closed.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::stdout(format_args!($($arg)*)) };
}

/// `println!` that ends quietly when standard output is closed.
macro_rules! outln {
    () => { $crate::cli::output::stdout(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::cli::output::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` that ends quietly when standard error is closed.
macro_rules! eout {
    ($($arg:tt)*) => { $crate::cli::output::stderr(format_args!($($arg)*)) };
}

/// `eprintln!` that ends quietly when standard error is closed.
macro_rules! eoutln {
    () => { $crate::cli::output::stderr(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::cli::output::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {eout, eoutln, out, outln};

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream whose reader has gone.
    struct Closed(usize);

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            self.0 += 1;
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_stream_is_written_once_then_left_alone() {
        let gone = AtomicBool::new(false);
        let mut stream = Closed(0);
        write_to(&mut stream, &gone, format_args!("one\n"));
        write_to(&mut stream, &gone, format_args!("two\n"));
        assert!(gone.load(Ordering::Relaxed));
        assert_eq!(stream.0, 1, "the second write is skipped");
    }
}
