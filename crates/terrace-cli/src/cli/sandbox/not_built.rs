//! A build without the `sandbox` feature (the shipped CLI): the emulators are not linked, and
//! the commands that would run them say how to get a build that has them.

use std::path::{Path, PathBuf};
use terrace::Error;

fn not_built() -> Error {
    Error::usage(
        "this terrace was built without the sandbox (the emulators are not linked into the \
         shipped CLI): build it with `cargo build -p terrace-cli --features sandbox` \
         (or `cargo install --path crates/terrace-cli --features sandbox`)",
    )
}

/// No sandbox runs from this build.
pub fn listens(_pid: u32, _port: u16) -> bool {
    false
}

/// Always refused: there is no sandbox in this build.
pub fn check_profile(_profile: &str) -> Result<(), Error> {
    Err(not_built())
}

/// Always refused: there is no sandbox in this build.
pub async fn serve_aws(_: &str, _: &str, _: &str, _: u64) -> Result<(), Error> {
    Err(not_built())
}

/// Always refused: there is no sandbox in this build.
pub async fn serve_gce(
    _: &Path,
    _: &str,
    _: Option<PathBuf>,
    _: &str,
    _: u64,
) -> Result<(), Error> {
    Err(not_built())
}
