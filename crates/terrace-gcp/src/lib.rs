//! The GCP provider for Terrace (in progress).
