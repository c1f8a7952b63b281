//! The S3 backend on moto: compare-and-swap on the snapshot, journal replay with the same
//! results as `file://` (one sequence run against both), history kept in the bucket (checked
//! with the S3 SDK directly), list, and the DynamoDB locks (races, expiry, force unlock).

mod support;

use std::sync::Arc;
use std::time::Duration;
use support::{backend, begin, done, dynamodb, failed, s3, Moto};
use terrace::state::file::FileBackend;
use terrace::state::{Backend, LockInfo, StackLock, StackState, StateError};
use terrace_s3::S3Backend;

fn state(stack: &str, serial: u64, lineage: &str) -> StackState {
    let mut state = StackState::new(stack);
    state.serial = serial;
    state.lineage = lineage.into();
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn save_is_compare_and_swap_on_the_serial() {
    let moto = Moto::start();
    let backend = backend(&moto, "cas", "team", "").await;
    backend.save(&state("a", 1, "L"), None).await.unwrap();
    let err = backend.save(&state("a", 1, "L"), None).await.unwrap_err();
    assert!(
        matches!(
            err,
            StateError::SerialConflict {
                expected: None,
                found: Some(1),
                ..
            }
        ),
        "{err}"
    );
    backend.save(&state("a", 2, "L"), Some(1)).await.unwrap();
    let stale = backend
        .save(&state("a", 3, "L"), Some(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            stale,
            StateError::SerialConflict {
                expected: Some(1),
                found: Some(2),
                ..
            }
        ),
        "a stale expected serial is refused: {stale}"
    );
    let other = backend
        .save(&state("a", 3, "other"), Some(2))
        .await
        .unwrap_err();
    assert!(
        matches!(other, StateError::LineageMismatch { .. }),
        "{other}"
    );
    assert_eq!(backend.load("a").await.unwrap().unwrap().serial, 2);

    // Writers that all read serial 2 race to replace it: the conditional write (If-Match on
    // the ETag) lets exactly one through, whatever the timing of their reads.
    let writers: Vec<Arc<S3Backend>> = (0..10)
        .map(|_| Arc::new(S3Backend::new(&moto.url("cas", "team", "")).unwrap()))
        .collect();
    let tasks: Vec<_> = writers
        .iter()
        .enumerate()
        .map(|(i, writer)| {
            let writer = writer.clone();
            tokio::spawn(async move {
                let mut next = state("a", 3, "L");
                next.outputs.insert("writer".into(), serde_json::json!(i));
                writer.save(&next, Some(2)).await
            })
        })
        .collect();
    let mut won = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(()) => won.push(i),
            Err(StateError::SerialConflict { found, .. }) => assert_eq!(found, Some(3)),
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one writer wins: {won:?}");
    let stored = backend.load("a").await.unwrap().unwrap();
    assert_eq!(stored.serial, 3);
    assert_eq!(stored.outputs["writer"], serde_json::json!(won[0]));
}

/// Runs the same sequence on a backend, returning every load and every observation.
async fn scenario(open: &dyn Fn() -> Box<dyn Backend>) -> Vec<String> {
    let mut seen = Vec::new();
    let backend = open();
    let mut look = |label: &str, value: String| seen.push(format!("{label}: {value}"));
    look(
        "load of nothing",
        format!("{:?}", backend.load("s/a").await.unwrap()),
    );

    // A journal without a snapshot (a first apply that crashed).
    backend
        .append("s/a", 0, &begin("op1", "vpc"))
        .await
        .unwrap();
    look(
        "pending only",
        format!("{:?}", backend.load("s/a").await.unwrap()),
    );
    backend
        .append("s/a", 0, &done("op1", "vpc", "vpc-1"))
        .await
        .unwrap();
    let first = backend.load("s/a").await.unwrap().unwrap();
    look("replayed", format!("{first:?}"));
    assert_eq!(
        first.serial, 1,
        "a replayed journal counts as one more serial"
    );
    assert_eq!(first.snapshot_serial, None);
    backend.save(&first, first.snapshot_serial).await.unwrap();
    look("saved", format!("{:?}", backend.load("s/a").await.unwrap()));

    // A run that crashed after two entries, continued by another process on the same
    // snapshot: the old entries stay and the new ones follow them.
    backend
        .append("s/a", 1, &begin("op2", "subnet"))
        .await
        .unwrap();
    backend
        .append("s/a", 1, &failed("op2", "subnet"))
        .await
        .unwrap();
    drop(backend);
    let backend = open();
    backend
        .append("s/a", 1, &begin("op3", "subnet"))
        .await
        .unwrap();
    let loaded = backend.load("s/a").await.unwrap().unwrap();
    look("continued", format!("{loaded:?}"));
    assert_eq!(loaded.serial, 2);
    assert_eq!(loaded.pending.len(), 1);
    let err = backend.save(&loaded, None).await.unwrap_err();
    look("stale save", err.to_string());
    backend.save(&loaded, Some(1)).await.unwrap();

    // An old writer's journal for snapshot 1 after snapshot 2 was saved is ignored, and a
    // new journal after snapshot 2 is not hidden by it.
    backend
        .append("s/a", 1, &done("op9", "ghost", "x-9"))
        .await
        .unwrap();
    look(
        "stale journal",
        format!("{:?}", backend.load("s/a").await.unwrap()),
    );
    let backend = open();
    backend
        .append("s/a", 2, &done("op3", "subnet", "subnet-3"))
        .await
        .unwrap();
    let loaded = backend.load("s/a").await.unwrap().unwrap();
    look("after stale", format!("{loaded:?}"));
    assert_eq!(loaded.serial, 3);
    assert_eq!(loaded.resources["subnet"].id, "subnet-3");
    assert!(loaded.pending.is_empty());

    // Many saves: 20 previous versions are kept.
    let mut current = loaded;
    for _ in 0..22 {
        let expected = current.snapshot_serial;
        backend.save(&current, expected).await.unwrap();
        current = backend.load("s/a").await.unwrap().unwrap();
        current.serial += 1;
    }
    look(
        "history",
        format!("{:?}", backend.history("s/a").await.unwrap()),
    );
    look("final", format!("{:?}", backend.load("s/a").await.unwrap()));

    // list: snapshots and journal-only stacks, nested names.
    backend.save(&state("t", 5, "T"), None).await.unwrap();
    backend
        .append("j/only", 0, &begin("op", "r"))
        .await
        .unwrap();
    look("list", format!("{:?}", backend.list().await.unwrap()));
    look(
        "history of none",
        format!("{:?}", backend.history("t").await.unwrap()),
    );
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_replay_and_history_match_the_file_backend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let file = scenario(&|| Box::new(FileBackend::new(path.clone()))).await;

    let moto = Moto::start();
    let first = backend(&moto, "same", "ws/state", "").await;
    drop(first);
    let url = moto.url("same", "ws/state", "");
    let on_s3 = scenario(&|| Box::new(S3Backend::new(&url).unwrap())).await;

    // Loads embed fresh timestamps of the fixtures only through `started_at`, which the two
    // runs create separately: compare with those masked.
    let mask = |lines: Vec<String>| -> Vec<String> {
        lines
            .into_iter()
            .map(|l| {
                let mut out = String::new();
                let mut rest = l.as_str();
                while let Some(at) = rest.find("started_at: ") {
                    out.push_str(&rest[..at]);
                    let after = &rest[at..];
                    let end = after.find(" }").unwrap_or(after.len());
                    out.push_str("started_at: *");
                    rest = &after[end..];
                }
                out.push_str(rest);
                // The error names the state's location, which differs by backend.
                out.replace(&url, "URL")
            })
            .collect()
    };
    let (file, on_s3) = (mask(file), mask(on_s3));
    assert_eq!(file.len(), on_s3.len());
    for (f, s) in file.iter().zip(&on_s3) {
        assert_eq!(f, s, "file:// and s3:// disagree");
    }
    assert!(
        file.iter().any(|l| l.starts_with("history: [4, 5,")),
        "{file:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_journal_objects_are_in_the_bucket() {
    let moto = Moto::start();
    let backend = backend(&moto, "hist", "p", "").await;
    for serial in 1..=3 {
        let expected = (serial > 1).then(|| serial - 1);
        backend
            .save(&state("net/eu", serial, "L"), expected)
            .await
            .unwrap();
    }
    let client = s3(&moto);
    let listed = client
        .list_objects_v2()
        .bucket("hist")
        .prefix("p/.history/net/eu/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(
        keys,
        ["p/.history/net/eu/1.json", "p/.history/net/eu/2.json"]
    );
    for (key, serial) in [
        ("p/.history/net/eu/1.json", 1),
        ("p/.history/net/eu/2.json", 2),
    ] {
        let body = client
            .get_object()
            .bucket("hist")
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let kept: StackState = serde_json::from_slice(&body).unwrap();
        assert_eq!(kept.serial, serial, "{key}");
    }
    // The bucket is versioned too: S3 itself keeps the three snapshot versions.
    let versions = client
        .list_object_versions()
        .bucket("hist")
        .prefix("p/net/eu.json")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 3);
    assert_eq!(backend.history("net/eu").await.unwrap(), vec![1, 2]);

    // Journal entries are objects; a saved snapshot removes them.
    backend
        .append("net/eu", 3, &begin("op", "vpc"))
        .await
        .unwrap();
    backend
        .append("net/eu", 3, &done("op", "vpc", "vpc-1"))
        .await
        .unwrap();
    let journal = |client: aws_sdk_s3::Client| async move {
        let listed = client
            .list_objects_v2()
            .bucket("hist")
            .prefix("p/net/eu.journal/")
            .send()
            .await
            .unwrap();
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        journal(client.clone()).await,
        [
            "p/net/eu.journal/00000000000000000003/0000000000.json",
            "p/net/eu.journal/00000000000000000003/0000000001.json",
            "p/net/eu.journal/00000000000000000003/header.json",
        ]
    );
    // An unreadable entry ends the replay there, like a torn journal line.
    client
        .put_object()
        .bucket("hist")
        .key("p/net/eu.journal/00000000000000000003/0000000001.json")
        .body(b"{\"entry\":\"done\",\"opera".to_vec().into())
        .send()
        .await
        .unwrap();
    let loaded = backend.load("net/eu").await.unwrap().unwrap();
    assert_eq!(loaded.serial, 4);
    assert_eq!(loaded.pending.len(), 1, "only the begin was replayed");
    backend.save(&loaded, Some(3)).await.unwrap();
    assert!(journal(client.clone()).await.is_empty());

    // Starting the journal of snapshot 4 removes a leftover of an older snapshot, never a
    // journal of a newer one (whose writer may hold the lock now).
    for key in [
        "p/net/eu.journal/00000000000000000002/header.json",
        "p/net/eu.journal/00000000000000000009/header.json",
    ] {
        client
            .put_object()
            .bucket("hist")
            .key(key)
            .body(b"{\"base_serial\":0,\"lineage\":\"L\"}".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let fresh = S3Backend::new(&moto.url("hist", "p", "")).unwrap();
    fresh
        .append("net/eu", 4, &begin("op4", "vpc"))
        .await
        .unwrap();
    assert_eq!(
        journal(client.clone()).await,
        [
            "p/net/eu.journal/00000000000000000004/0000000000.json",
            "p/net/eu.journal/00000000000000000004/header.json",
            "p/net/eu.journal/00000000000000000009/header.json",
        ]
    );
    assert_eq!(fresh.load("net/eu").await.unwrap().unwrap().serial, 5);

    // Another prefix of the same bucket is another set of stacks.
    let other = support::backend(&moto, "hist", "q", "").await;
    assert!(other.list().await.unwrap().is_empty());
    assert_eq!(backend.list().await.unwrap(), vec!["net/eu".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_racing_locks_exactly_one_wins() {
    let moto = Moto::start();
    let _made = backend(&moto, "race", "p", "").await;
    let url = moto.url("race", "p", "");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move {
                // One backend each, as separate processes would have.
                let backend = S3Backend::new(&url).unwrap();
                let info = LockInfo::for_operation(&format!("racer-{i}"));
                let result = backend.lock("stack/one", &info).await;
                (info, result, backend)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    let mut keep = Vec::new();
    for task in tasks {
        let (info, result, backend) = task.await.unwrap();
        match result {
            Ok(()) => winners.push(info),
            Err(StateError::Locked { holder, .. }) => losers.push(*holder),
            Err(other) => panic!("unexpected {other}"),
        }
        keep.push(backend);
    }
    assert_eq!(winners.len(), 1, "exactly one wins");
    assert_eq!(losers.len(), 19);
    assert!(
        losers.iter().all(|h| h.id == winners[0].id),
        "every loser is told who holds the lock"
    );
    let reader = S3Backend::new(&url).unwrap();
    assert_eq!(
        reader.lock_info("stack/one").await.unwrap().unwrap().id,
        winners[0].id
    );
    // The item as DynamoDB holds it: `LockID` = `<prefix>/<stack>`, the holder, an expiry.
    let item = dynamodb(&moto)
        .get_item()
        .table_name("terrace-locks")
        .key(
            "LockID",
            aws_sdk_dynamodb::types::AttributeValue::S("p/stack/one".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the lock item");
    assert_eq!(item["Owner"].as_s().unwrap(), &winners[0].id);
    let expires: i64 = item["Expires"].as_n().unwrap().parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now + 3500..=now + 3601).contains(&expires),
        "one hour by default: {expires} vs {now}"
    );
    let info: LockInfo = serde_json::from_str(item["Info"].as_s().unwrap()).unwrap();
    assert_eq!(info, winners[0]);
    // Another stack is another lock.
    let other = LockInfo::for_operation("other");
    reader.lock("stack/two", &other).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_lock_is_refreshed_and_a_dead_one_expires_and_is_taken_over() {
    let moto = Moto::start();
    let holder = backend(&moto, "ttl", "p", "&lock_ttl=2s").await;
    let first = LockInfo::for_operation("apply");
    holder.lock("s", &first).await.unwrap();
    let other = S3Backend::new(&moto.url("ttl", "p", "&lock_ttl=2s")).unwrap();
    let second = LockInfo::for_operation("apply");
    tokio::time::sleep(Duration::from_secs(4)).await;
    match other.lock("s", &second).await {
        Err(StateError::Locked { holder, .. }) => assert_eq!(holder.id, first.id),
        other => panic!("a refreshed lock must still hold: {other:?}"),
    }
    // The holder goes away without unlocking (its refresher stops with it).
    drop(holder);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        other.lock_info("s").await.unwrap().is_none(),
        "an expired lock is not reported as held"
    );
    other.lock("s", &second).await.unwrap();
    assert_eq!(other.lock_info("s").await.unwrap().unwrap().id, second.id);

    // An item expired long ago (written by hand) is taken over too.
    let client = dynamodb(&moto);
    use aws_sdk_dynamodb::types::AttributeValue;
    let stale = LockInfo::for_operation("crashed");
    client
        .put_item()
        .table_name("terrace-locks")
        .item("LockID", AttributeValue::S("p/old".into()))
        .item(
            "Info",
            AttributeValue::S(serde_json::to_string(&stale).unwrap()),
        )
        .item("Owner", AttributeValue::S(stale.id.clone()))
        .item("Expires", AttributeValue::N("1000".into()))
        .send()
        .await
        .unwrap();
    other.lock("old", &second).await.unwrap();
    assert_eq!(other.lock_info("old").await.unwrap().unwrap().id, second.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_holder_unlocks_and_force_unlock_names_the_holder() {
    let moto = Moto::start();
    let backend = backend(&moto, "unlock", "", "").await;
    let first = LockInfo::for_operation("apply");
    backend.lock("s", &first).await.unwrap();
    let second = LockInfo::for_operation("plan");
    match backend.lock("s", &second).await.unwrap_err() {
        StateError::Locked { holder, stack } => {
            assert_eq!(holder.id, first.id);
            assert_eq!(stack, "s");
        }
        other => panic!("unexpected {other}"),
    }
    backend.unlock("s", &second.id).await.unwrap();
    assert_eq!(backend.lock_info("s").await.unwrap().unwrap().id, first.id);
    backend.unlock("s", &first.id).await.unwrap();
    assert!(backend.lock_info("s").await.unwrap().is_none());
    backend.lock("s", &second).await.unwrap();
    let other = S3Backend::new(&moto.url("unlock", "", "")).unwrap();
    assert_eq!(other.force_unlock("s").await.unwrap().unwrap(), second);
    assert!(backend.lock_info("s").await.unwrap().is_none());
    assert!(other.force_unlock("s").await.unwrap().is_none());
    backend.lock("s", &first).await.unwrap();
}

/// The lock item of `stack` (prefix `p`) as DynamoDB holds it: its `Owner`.
async fn lock_owner(moto: &Moto, stack: &str) -> Option<String> {
    let item = dynamodb(moto)
        .get_item()
        .table_name("terrace-locks")
        .key(
            "LockID",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("p/{stack}")),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item?;
    Some(item["Owner"].as_s().unwrap().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_guard_dropped_with_its_task_deletes_the_lock_item() {
    let moto = Moto::start();
    let backend: Arc<dyn Backend> = Arc::new(backend(&moto, "guard", "p", "").await);
    let holder = backend.clone();
    let (taken, locked) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let lock = StackLock::acquire(&holder, "s", "apply", Duration::ZERO, |_| {})
            .await
            .unwrap();
        taken.send(lock.info().id.clone()).unwrap();
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(lock);
    });
    let id = locked.await.unwrap();
    assert_eq!(lock_owner(&moto, "s").await.as_deref(), Some(id.as_str()));
    // The task is cancelled mid-way; without the release the item would live an hour (and
    // its refresher would keep pushing that hour forward).
    task.abort();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while lock_owner(&moto, "s").await.is_some() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lock_owner(&moto, "s").await, None, "the item is deleted");
    assert!(backend.lock_info("s").await.unwrap().is_none());
    // Nothing refreshes a lock that is gone: the next holder takes it at once.
    let next = StackLock::try_acquire(&backend, "s", "apply")
        .await
        .unwrap();
    assert_eq!(
        lock_owner(&moto, "s").await.as_deref(),
        Some(next.info().id.as_str())
    );
    next.release().await.unwrap();
    assert_eq!(lock_owner(&moto, "s").await, None);
}

#[tokio::test]
async fn the_registry_opens_s3_urls_and_refuses_malformed_ones() {
    let mut registry = terrace::provider::Registry::new();
    terrace_s3::register(&mut registry);
    let root = std::path::Path::new(".");
    let open = |url: &str| terrace::state::open_backend(Some(url), root, &registry);
    assert!(open("s3://bucket/prefix?lock_table=locks&region=eu-west-1").is_ok());
    assert!(open("file://state").is_ok());
    let Err(err) = open("s3://bucket/prefix?region=eu-west-1") else {
        panic!("a URL without a lock table opened");
    };
    let message = err.to_string();
    assert!(matches!(err, StateError::InvalidUrl { .. }), "{message}");
    assert!(message.contains("lock_table=NAME"), "{message}");
    assert!(message.contains(terrace_s3::EXAMPLE), "{message}");
    let Err(err) = open("gs://bucket/x") else {
        panic!("an unknown scheme opened");
    };
    assert!(matches!(err, StateError::Unsupported(_)), "{err}");
    let bare = terrace::provider::Registry::new();
    assert!(matches!(
        terrace::state::open_backend(Some("s3://b/x?lock_table=t"), root, &bare),
        Err(StateError::Unsupported(_))
    ));
}

#[tokio::test]
async fn no_region_anywhere_is_a_clear_error() {
    std::env::remove_var("AWS_REGION");
    std::env::remove_var("AWS_DEFAULT_REGION");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/terrace-test-aws-config");
    std::env::set_var("AWS_PROFILE", "terrace-test-no-such-profile");
    let backend = S3Backend::new("s3://bucket/x?lock_table=locks").unwrap();
    let err = backend.load("s").await.unwrap_err();
    assert!(matches!(err, StateError::InvalidUrl { .. }), "{err}");
    assert!(err.to_string().contains("region=..."), "{err}");
}
