//! Organizations accounts against moto: create (tags in the create call), read back, update in
//! place (parent, tags), a retried create adopting its own account, force-new fields, close.

mod support;

use serde_json::json;
use support::*;
use terrace::provider::{CreateRequest, Provider, ReadRequest};

#[tokio::test]
async fn account_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider();
    let org = moto.organizations();
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let root = org.list_roots().send().await.unwrap().roots()[0]
        .id()
        .unwrap()
        .to_string();
    let ou = org
        .create_organizational_unit()
        .parent_id(&root)
        .name("eu")
        .send()
        .await
        .unwrap();
    let ou = ou.organizational_unit().unwrap().id().unwrap().to_string();

    let desired = json!({"email": "eu-db@example.com", "name": "eu-db", "parent_id": root, "tags": {"Team": "db"}});
    let account = create(&p, "aws:organizations:Account", "account", desired.clone()).await;
    assert_eq!(account.properties["email"], "eu-db@example.com");
    assert_eq!(account.properties["parent_id"], json!(root));
    assert_eq!(account.attributes["status"], "ACTIVE");
    assert_eq!(account.ownership, Some(owner("networks/eu/a", "account")));
    let direct = org
        .describe_account()
        .account_id(&account.id)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.account().unwrap().name(), Some("eu-db"));
    let tags = org
        .list_tags_for_resource()
        .resource_id(&account.id)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = tags.tags().iter().map(|t| t.key()).collect();
    assert!(keys.contains(&"terrace:resource") && keys.contains(&"Team"));
    let read = read_ids(&p, "aws:organizations:Account", &[&account.id]).await;
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].properties["name"], "eu-db");

    // A retried create (same ownership) adopts the account instead of creating a second one.
    let again = p
        .create(CreateRequest {
            type_name: "aws:organizations:Account".into(),
            region: None,
            properties: props(desired.clone()),
            ownership: owner("networks/eu/a", "account"),
            idempotency_key: "networks/eu/a/account/create".into(),
        })
        .await
        .unwrap();
    assert_eq!(again.id, account.id);
    let same_email = |accounts: &[aws_sdk_organizations::types::Account]| {
        accounts
            .iter()
            .filter(|a| a.email() == Some("eu-db@example.com"))
            .count()
    };
    assert_eq!(
        same_email(org.list_accounts().send().await.unwrap().accounts()),
        1
    );
    // Another owner's create with the same email is a conflict.
    let err = p
        .create(CreateRequest {
            type_name: "aws:organizations:Account".into(),
            region: None,
            properties: props(desired.clone()),
            ownership: owner("other", "account"),
            idempotency_key: "k".into(),
        })
        .await
        .expect_err("email taken");
    assert_eq!(err.kind, terrace::provider::ErrorKind::Conflict);

    // Update in place: moved into the OU, tags changed.
    let changed = json!({"email": "eu-db@example.com", "name": "eu-db", "parent_id": ou, "tags": {"Team": "platform"}});
    let updated = update(
        &p,
        "aws:organizations:Account",
        &account.id,
        desired,
        changed,
    )
    .await;
    assert_eq!(updated.properties["parent_id"], json!(ou));
    let parents = org
        .list_parents()
        .child_id(&account.id)
        .send()
        .await
        .unwrap();
    assert_eq!(parents.parents()[0].id(), Some(ou.as_str()));
    let tags = org
        .list_tags_for_resource()
        .resource_id(&account.id)
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == "Team" && t.value() == "platform"));

    // Adoption by owner.
    let found = p
        .read(ReadRequest {
            type_name: "aws:organizations:Account".into(),
            region: None,
            ids: vec![],
            owner: Some(owner("networks/eu/a", "")),
        })
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|o| &o.id).collect::<Vec<_>>(),
        vec![&account.id]
    );

    // Force-new fields are declared; delete closes the account.
    let schema = p
        .schemas()
        .into_iter()
        .find(|s| s.type_name == "aws:organizations:Account")
        .unwrap();
    assert!(schema.field("email").unwrap().force_new && !schema.regional);
    delete(&p, "aws:organizations:Account", &account.id).await;
    let direct = org
        .describe_account()
        .account_id(&account.id)
        .send()
        .await
        .unwrap();
    assert_ne!(
        direct.account().unwrap().status().map(|s| s.as_str()),
        Some("ACTIVE")
    );
    assert!(read_ids(&p, "aws:organizations:Account", &[&account.id])
        .await
        .is_empty());
    delete(&p, "aws:organizations:Account", &account.id).await;
}

/// Issue 13: a managed account that was closed (moto, like AWS, leaves it SUSPENDED) is
/// reported with its state — never read as absent, which would plan a new account — and its
/// email is not reused; deleting it again succeeds.
#[tokio::test]
async fn a_suspended_account_is_reported_as_such() {
    let moto = Moto::start();
    let p = moto.provider();
    let org = moto.organizations();
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let desired = json!({"email": "db-us@example.com", "name": "db-us"});
    let account = create(&p, "aws:organizations:Account", "account", desired.clone()).await;
    assert_eq!(account.attributes["state"], "ACTIVE");
    org.close_account()
        .account_id(&account.id)
        .send()
        .await
        .unwrap();

    let err = p
        .read(ReadRequest {
            type_name: "aws:organizations:Account".into(),
            region: None,
            ids: vec![account.id.clone()],
            owner: None,
        })
        .await
        .expect_err("a suspended account is reported");
    assert_eq!(err.kind, terrace::provider::ErrorKind::Conflict);
    assert_eq!(err.code, "AccountSUSPENDED");
    assert!(
        err.message.contains(&account.id) && err.message.contains("SUSPENDED"),
        "{err}"
    );
    // Found by its tags after a crash, it is not adopted.
    let by_owner = p
        .read(ReadRequest {
            type_name: "aws:organizations:Account".into(),
            region: None,
            ids: vec![],
            owner: Some(owner("networks/eu/a", "")),
        })
        .await
        .unwrap();
    assert!(by_owner.is_empty());
    // A new account with the closed one's email is refused, naming the closed account.
    let again = p
        .create(CreateRequest {
            type_name: "aws:organizations:Account".into(),
            region: None,
            properties: props(desired),
            ownership: owner("networks/eu/a", "account"),
            idempotency_key: "again".into(),
        })
        .await
        .expect_err("the email belongs to a closed account");
    assert!(again.message.contains("SUSPENDED"), "{again}");
    delete(&p, "aws:organizations:Account", &account.id).await;
}

/// Issue 13: `organizational_unit` places the account in the OU of that name under the root,
/// creating it when missing and reusing it for the next account; moving it to another OU
/// is an in-place update.
#[tokio::test]
async fn accounts_are_placed_in_the_organizational_unit_named() {
    let moto = Moto::start();
    let p = moto.provider();
    let org = moto.organizations();
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let parent_name = |id: String| {
        let org = org.clone();
        async move {
            let parents = org.list_parents().child_id(&id).send().await.unwrap();
            let ou = parents.parents()[0].id().unwrap().to_string();
            let described = org
                .describe_organizational_unit()
                .organizational_unit_id(&ou)
                .send()
                .await
                .unwrap();
            described
                .organizational_unit()
                .unwrap()
                .name()
                .unwrap()
                .to_string()
        }
    };
    let eu = create(
        &p,
        "aws:organizations:Account",
        "account",
        json!({"email": "db-eu@example.com", "name": "db-eu", "organizational_unit": "databases-eu"}),
    )
    .await;
    assert_eq!(eu.properties["organizational_unit"], "databases-eu");
    assert_eq!(parent_name(eu.id.clone()).await, "databases-eu");
    let eu2 = create_in(
        &p,
        "aws:organizations:Account",
        "accounts/eu2/aws",
        "account",
        json!({"email": "db-eu2@example.com", "name": "db-eu2", "organizational_unit": "databases-eu"}),
    )
    .await;
    assert_eq!(parent_name(eu2.id.clone()).await, "databases-eu");
    let root = org.list_roots().send().await.unwrap().roots()[0]
        .id()
        .unwrap()
        .to_string();
    let ous = org
        .list_organizational_units_for_parent()
        .parent_id(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(ous.organizational_units().len(), 1, "one OU, reused");
    let moved = update(
        &p,
        "aws:organizations:Account",
        &eu.id,
        json!({"email": "db-eu@example.com", "name": "db-eu", "organizational_unit": "databases-eu"}),
        json!({"email": "db-eu@example.com", "name": "db-eu", "organizational_unit": "databases-gdpr"}),
    )
    .await;
    assert_eq!(moved.properties["organizational_unit"], "databases-gdpr");
    assert_eq!(parent_name(eu.id.clone()).await, "databases-gdpr");
}

/// Issue 13: a service control policy denying every region outside the group's, attached to
/// the member account: SCPs are enabled on the root by the first create, the document reads
/// back as a map (no drift from spacing), targets change in place, and delete detaches first.
#[tokio::test]
async fn a_region_guard_scp_is_attached_to_the_member_account() {
    let moto = Moto::start();
    let p = moto.provider();
    let org = moto.organizations();
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let account = create(
        &p,
        "aws:organizations:Account",
        "account",
        json!({"email": "db-eu@example.com", "name": "db-eu"}),
    )
    .await;
    let document = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyOutsideJurisdiction", "Effect": "Deny",
        "NotAction": ["iam:*", "organizations:*", "sts:*", "support:*"], "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-central-1", "eu-west-1"]}}}]});
    let desired = json!({"name": "db-eu-regions", "description": "EU only", "content": document,
                         "target_ids": [account.id]});
    let scp = create(&p, "aws:organizations:Policy", "regions", desired.clone()).await;
    assert_eq!(scp.properties["content"], document);
    assert_eq!(scp.properties["target_ids"], json!([account.id]));
    let roots = org.list_roots().send().await.unwrap();
    assert!(roots.roots()[0].policy_types().iter().any(
        |t| t.r#type() == Some(&aws_sdk_organizations::types::PolicyType::ServiceControlPolicy)
    ));
    let attached = org
        .list_policies_for_target()
        .target_id(&account.id)
        .filter(aws_sdk_organizations::types::PolicyType::ServiceControlPolicy)
        .send()
        .await
        .unwrap();
    assert!(attached
        .policies()
        .iter()
        .any(|s| s.id() == Some(scp.id.as_str())));
    let read = read_ids(&p, "aws:organizations:Policy", &[&scp.id]).await;
    assert_eq!(read[0].properties["content"], document);
    // A retried create (its answer was lost) adopts the policy of that name it made.
    let again = create(&p, "aws:organizations:Policy", "regions", desired.clone()).await;
    assert_eq!(again.id, scp.id);

    let mut detached = desired.clone();
    detached["target_ids"] = json!([]);
    let updated = update(&p, "aws:organizations:Policy", &scp.id, desired, detached).await;
    assert_eq!(updated.properties["target_ids"], json!([]));
    delete(&p, "aws:organizations:Policy", &scp.id).await;
    assert!(read_ids(&p, "aws:organizations:Policy", &[&scp.id])
        .await
        .is_empty());
}
