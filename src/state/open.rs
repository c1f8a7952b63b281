//! Opening the state backend a workspace names (`backend:` in `terrace.yaml`): `file://` is
//! built in, other URL schemes are opened by the openers registered for them.

use super::backend::{Backend, BackendOpener, StateError};
use super::file::FileBackend;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where [`open_backend`] finds the opener of a URL scheme; the provider registry
/// (`terrace::provider::Registry`) is one.
pub trait BackendOpeners {
    /// The opener registered for `scheme` (`"s3"`), if any.
    fn backend_opener(&self, scheme: &str) -> Option<&Arc<dyn BackendOpener>>;
}

/// Opens the backend named by a URL: `file://PATH` (relative to the workspace root) is built
/// in; other schemes (`s3://...`) are opened by the opener `registry` holds for them.
pub fn open_backend(
    url: Option<&str>,
    root: &Path,
    registry: &dyn BackendOpeners,
) -> Result<Arc<dyn Backend>, StateError> {
    let url = url.unwrap_or("file://.terrace/state");
    if let Some(path) = url.strip_prefix("file://") {
        let dir = if Path::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            root.join(path)
        };
        return Ok(Arc::new(FileBackend::new(dir)));
    }
    let opener = url
        .split_once("://")
        .and_then(|(scheme, _)| registry.backend_opener(scheme));
    match opener {
        Some(opener) => opener.open(url, root),
        None => Err(StateError::Unsupported(url.to_string())),
    }
}
