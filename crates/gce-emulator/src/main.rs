//! The `gce-emulator` binary: parses flags (and their environment twins), starts the
//! server, prints `listening on http://ADDR` as the first line of stdout, and runs until
//! interrupted.

use clap::Parser;
use gce_emulator::config::Args;
use std::io::Write;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let server = match gce_emulator::start(args.listen, args.config()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gce-emulator: cannot start on {}: {e}", args.listen);
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("listening on {}", server.base_url());
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    match server.shutdown().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gce-emulator: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
