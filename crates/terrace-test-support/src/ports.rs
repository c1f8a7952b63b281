//! Which process listens on a loopback port: a test that starts a server on a port it found
//! free must make sure that *its* process got the port, not another test's server started in
//! between (Linux: `/proc/net/tcp` and the process's socket descriptors, through `procfs`).

/// True when process `pid` holds a socket listening on TCP `port` (IPv4).
pub fn listens(pid: u32, port: u16) -> bool {
    let Ok(entries) = procfs::net::tcp() else {
        return false;
    };
    let inodes: Vec<u64> = entries
        .iter()
        .filter(|e| e.state == procfs::net::TcpState::Listen && e.local_address.port() == port)
        .map(|e| e.inode)
        .collect();
    if inodes.is_empty() {
        return false;
    }
    let Ok(process) = procfs::process::Process::new(pid as i32) else {
        return false;
    };
    let Ok(fds) = process.fd() else {
        return false;
    };
    fds.flatten().any(|fd| {
        matches!(fd.target, procfs::process::FDTarget::Socket(inode) if inodes.contains(&inode))
    })
}
