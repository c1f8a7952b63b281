//! The AWS provider for Terrace (in progress).
