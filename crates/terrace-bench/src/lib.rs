//! Terrace's engine benchmark lives in `benches/engine.rs` of this package: plan at 1k, 10k and
//! 100k resources and for one group of 1, 100 and 2,000 replicas, apply against the critical
//! path, checkpoint cost and refresh batching, all on the in-process test provider. Run it with
//! `cargo bench -p terrace-bench` (release; only the engine is built, not the cloud SDKs);
//! `-- refresh`, `-- --apply-only` and `-- --scale N` run one part. This library is empty.
