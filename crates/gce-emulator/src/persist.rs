//! The optional state file: the whole [`Store`] as JSON, written atomically (temporary file
//! then rename) after every mutation and read back at start.

use crate::store::Store;
use std::io;
use std::path::Path;

/// Reads a snapshot; a missing file is an empty start.
pub fn load(path: &Path) -> io::Result<Option<Store>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes a snapshot atomically.
pub fn save(path: &Path, store: &Store) -> io::Result<()> {
    let bytes = serde_json::to_vec(store).map_err(io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
