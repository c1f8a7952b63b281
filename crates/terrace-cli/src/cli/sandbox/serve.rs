//! The emulators run in this process (`terrace sandbox serve-aws|serve-gce`, started in the
//! background by `terrace sandbox start`): only in a build with the `sandbox` feature, so that
//! the shipped CLI does not link them.

use super::super::output::outln;
use super::find_venv;
use std::path::{Path, PathBuf};
use terrace::Error;

/// True when process `pid` holds a socket listening on TCP `port` (`/proc/net/tcp` and the
/// process's socket descriptors).
pub fn listens(pid: u32, port: u16) -> bool {
    let Ok(entries) = procfs::net::tcp() else {
        return false;
    };
    let inodes: Vec<u64> = entries
        .iter()
        .filter(|e| e.state == procfs::net::TcpState::Listen && e.local_address.port() == port)
        .map(|e| e.inode)
        .collect();
    let Ok(fds) = procfs::process::Process::new(pid as i32).and_then(|p| p.fd()) else {
        return false;
    };
    !inodes.is_empty()
        && fds.flatten().any(|fd| {
            matches!(fd.target, procfs::process::FDTarget::Socket(inode) if inodes.contains(&inode))
        })
}

/// Refuses an unknown profile (`cloud` or `fast`).
pub fn check_profile(profile: &str) -> Result<(), Error> {
    aws_sandbox::Profile::parse(profile)
        .map(|_| ())
        .map_err(Error::usage)
}

/// Runs the AWS behaviour layer in front of moto in this process until terminated.
pub async fn serve_aws(
    listen: &str,
    upstream: &str,
    profile: &str,
    seed: u64,
) -> Result<(), Error> {
    let address = listen
        .parse()
        .map_err(|e| Error::usage(format!("--listen {listen}: {e}")))?;
    let profile = aws_sandbox::Profile::parse(profile).map_err(Error::usage)?;
    let behaviour = aws_sandbox::Behaviour::of(profile, seed);
    let layer = aws_sandbox::start(address, upstream, behaviour, true)
        .await
        .map_err(|e| Error::usage(format!("AWS behaviour layer: {e}")))?;
    outln!("listening on {}", layer.endpoint());
    wait_for_termination().await
}

/// Returns on SIGTERM or Ctrl-C.
async fn wait_for_termination() -> Result<(), Error> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::usage(e.to_string()))?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

/// Runs the Compute Engine emulator in this process until terminated. The `cloud` profile
/// checks request bodies against Compute's discovery document (shipped in the `.venv`).
pub async fn serve_gce(
    root: &Path,
    listen: &str,
    state_file: Option<PathBuf>,
    profile: &str,
    seed: u64,
) -> Result<(), Error> {
    let address = listen
        .parse()
        .map_err(|e| Error::usage(format!("--listen {listen}: {e}")))?;
    let profile: gce_emulator::Profile = profile.parse().map_err(Error::usage)?;
    let mut config = gce_emulator::Config::for_profile(profile, Some(seed));
    config.state_file = state_file;
    if profile == gce_emulator::Profile::Cloud {
        let venv = find_venv(root)?;
        config.discovery_doc =
            Some(gce_emulator::schema::Discovery::locate_in_venv(&venv).map_err(Error::usage)?);
    }
    let server = gce_emulator::start(address, config)
        .await
        .map_err(|e| Error::usage(format!("GCE emulator: {e}")))?;
    outln!("listening on {}", server.base_url());
    wait_for_termination().await?;
    server
        .shutdown()
        .await
        .map_err(|e| Error::usage(e.to_string()))
}
