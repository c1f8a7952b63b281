//! `aws:ec2:VpnConnection` on moto behind the sandbox's AWS layer (which answers the tunnel
//! options moto lacks): a connection between a virtual private gateway and a customer gateway
//! with its tunnels read back, a reserved inside block refused before anything is made, the
//! `pending` window waited out, a plan after the apply and after a refresh without changes, and
//! the delete. Every effect is checked in moto directly.

mod support;

use serde_json::json;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use terrace::engine::{ApplyOptions, PlanOptions, Selector, Terrace};
use terrace::events::{EventSink, StackStatus};
use terrace::plan::Action;
use terrace::provider::{CreateRequest, ErrorKind, Provider, Registry};

const TYPE: &str = "aws:ec2:VpnConnection";

/// (id, state) of every connection moto itself has.
async fn in_moto(moto: &Moto) -> Vec<(String, String)> {
    let out = moto.ec2().describe_vpn_connections().send().await.unwrap();
    out.vpn_connections()
        .iter()
        .map(|c| {
            (
                c.vpn_connection_id().unwrap_or_default().to_string(),
                c.state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// A VPC with a virtual private gateway attached, and a customer gateway: (vgw, cgw).
async fn gateways(p: &terrace_aws::AwsProvider) -> (String, String) {
    let vpc = create(
        p,
        "aws:ec2:Vpc",
        "vpc",
        json!({"cidr_block": "10.30.0.0/16"}),
    )
    .await;
    let vgw = create(p, "aws:ec2:VpnGateway", "vgw", json!({"vpc_id": vpc.id})).await;
    let cgw = create(
        p,
        "aws:ec2:CustomerGateway",
        "cgw",
        json!({"bgp_asn": 65010, "ip_address": "203.0.113.9"}),
    )
    .await;
    (vgw.id, cgw.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reads_back_its_tunnels_and_a_reserved_block_is_refused_first() {
    let moto = Moto::start();
    let layer = layer(&moto, lenient(7)).await;
    let p = provider_at(&layer.endpoint(), 2);
    let (vgw, cgw) = gateways(&p).await;

    // A reserved inside block: AWS's InvalidParameterValue, and nothing made.
    let refused = p
        .create(CreateRequest {
            type_name: TYPE.into(),
            region: None,
            properties: props(json!({"customer_gateway_id": cgw, "vpn_gateway_id": vgw,
                                      "tunnel1_inside_cidr": "169.254.169.252/30"})),
            ownership: owner("networks/eu/a", "reserved"),
            idempotency_key: "reserved".into(),
        })
        .await
        .expect_err("a reserved block is refused");
    assert_eq!(refused.code, "InvalidParameterValue", "{refused:?}");
    assert_eq!(refused.kind, ErrorKind::Invalid, "{refused:?}");
    assert!(
        refused.message.contains("169.254.169.252/30"),
        "{refused:?}"
    );
    assert!(in_moto(&moto).await.is_empty());

    let wanted = json!({"customer_gateway_id": cgw, "vpn_gateway_id": vgw,
                        "tunnel1_inside_cidr": "169.254.21.0/30",
                        "tunnel2_inside_cidr": "169.254.22.0/30", "tags": {"Name": "to-gcp"}});
    let vpn = create(&p, TYPE, "vpn", wanted.clone()).await;
    assert!(vpn.id.starts_with("vpn-"), "{}", vpn.id);
    assert_eq!(
        in_moto(&moto).await,
        vec![(vpn.id.clone(), "available".into())]
    );
    let (read, attrs) = (&vpn.properties, &vpn.attributes);
    for field in [
        "customer_gateway_id",
        "vpn_gateway_id",
        "tunnel1_inside_cidr",
        "tunnel2_inside_cidr",
        "tags",
    ] {
        assert_eq!(read[field], wanted[field], "{field}");
    }
    assert_eq!(read["static_routes_only"], false);
    assert_eq!(attrs["state"], "available");
    assert_eq!(attrs["tunnel1_vgw_inside_address"], "169.254.21.1");
    assert_eq!(attrs["tunnel1_cgw_inside_address"], "169.254.21.2");
    assert_eq!(attrs["tunnel2_vgw_inside_address"], "169.254.22.1");
    assert_eq!(attrs["tunnel2_cgw_inside_address"], "169.254.22.2");
    let mut addresses = Vec::new();
    for n in [1, 2] {
        let address: Ipv4Addr = attrs[&format!("tunnel{n}_address")]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("tunnel{n}_address"));
        assert!(
            !address.is_private() && !address.is_link_local(),
            "{address}"
        );
        addresses.push(address);
        let key = attrs[&format!("tunnel{n}_preshared_key")].as_str().unwrap();
        assert_eq!(key.len(), 32);
        assert!(!key.starts_with('0'));
        assert!(key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_'));
        assert_eq!(attrs[&format!("tunnel{n}_status")], "DOWN");
    }
    assert_ne!(addresses[0], addresses[1]);
    assert_ne!(
        attrs["tunnel1_preshared_key"],
        attrs["tunnel2_preshared_key"]
    );
    // The pre-shared keys are marked for the engine to seal.
    let schema = p
        .schemas()
        .into_iter()
        .find(|s| s.type_name == TYPE)
        .unwrap();
    let sensitive: Vec<&str> = schema
        .fields
        .iter()
        .filter(|f| f.sensitive)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(
        sensitive,
        vec!["tunnel1_preshared_key", "tunnel2_preshared_key"]
    );

    // Read back by id and by owner: the same.
    assert_eq!(read_ids(&p, TYPE, &[&vpn.id]).await, vec![vpn.clone()]);
    let owned = p
        .read(terrace::provider::ReadRequest {
            type_name: TYPE.into(),
            region: None,
            ids: vec![],
            owner: Some(owner("networks/eu/a", "")),
        })
        .await
        .unwrap();
    assert_eq!(owned, vec![vpn.clone()]);

    // The same block again on the same gateway is refused too (AWS: unique per gateway).
    let again = p
        .create(CreateRequest {
            type_name: TYPE.into(),
            region: None,
            properties: props(json!({"customer_gateway_id": cgw, "vpn_gateway_id": vgw,
                                      "tunnel1_inside_cidr": "169.254.22.0/30"})),
            ownership: owner("networks/eu/a", "again"),
            idempotency_key: "again".into(),
        })
        .await
        .expect_err("a block in use on the gateway");
    assert_eq!(again.code, "InvalidParameterValue");
    assert_eq!(in_moto(&moto).await.len(), 1);

    // Tags change in place.
    let mut retagged = wanted.clone();
    retagged["tags"] = json!({"Name": "to-gcp-0"});
    let updated = update(&p, TYPE, &vpn.id, wanted, retagged).await;
    assert_eq!(updated.properties["tags"], json!({"Name": "to-gcp-0"}));
    assert_eq!(
        updated.attributes["tunnel1_preshared_key"],
        attrs["tunnel1_preshared_key"]
    );

    delete(&p, TYPE, &vpn.id).await;
    assert_eq!(
        in_moto(&moto).await,
        vec![(vpn.id.clone(), "deleted".into())]
    );
    assert!(read_ids(&p, TYPE, &[&vpn.id]).await.is_empty());
    delete(&p, TYPE, &vpn.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_connection_is_pending_for_a_while_and_the_create_waits_it_out() {
    let moto = Moto::start();
    let window = Duration::from_millis(400);
    let layer = layer(
        &moto,
        aws_sandbox::Behaviour {
            vpn_pending: Some((window, window)),
            ..lenient(3)
        },
    )
    .await;
    let p = provider_at(&layer.endpoint(), 2);
    let (vgw, cgw) = gateways(&p).await;
    let ec2 = ec2_at(&layer.endpoint(), false);
    let made = ec2
        .create_vpn_connection()
        .r#type("ipsec.1")
        .customer_gateway_id(&cgw)
        .vpn_gateway_id(&vgw)
        .send()
        .await
        .unwrap();
    let first = made.vpn_connection().unwrap();
    assert_eq!(first.state().map(|s| s.as_str()), Some("pending"));
    // AWS picked both inside blocks, outside the reserved ones.
    let tunnels = first.options().unwrap().tunnel_options();
    assert_eq!(tunnels.len(), 2);
    for t in tunnels {
        let cidr = t.tunnel_inside_cidr().unwrap();
        assert!(
            cidr.starts_with("169.254.") && cidr.ends_with("/30"),
            "{cidr}"
        );
        assert!(!aws_sandbox::vpn::RESERVED.contains(&cidr), "{cidr}");
    }
    let id = first.vpn_connection_id().unwrap();
    let state = |ec2: aws_sdk_ec2::Client| async move {
        let filter = aws_sdk_ec2::types::Filter::builder()
            .name("vpn-connection-id")
            .values(id)
            .build();
        let out = ec2
            .describe_vpn_connections()
            .filters(filter)
            .send()
            .await
            .unwrap();
        let listed = out.vpn_connections();
        assert_eq!(listed.len(), 1);
        listed[0].state().map(|s| s.as_str().to_string()).unwrap()
    };
    assert_eq!(state(ec2.clone()).await, "pending");
    tokio::time::sleep(window + Duration::from_millis(100)).await;
    assert_eq!(state(ec2.clone()).await, "available");

    // Through the provider: the create returns once the connection is available.
    let vpn = create(
        &p,
        TYPE,
        "vpn",
        json!({"customer_gateway_id": cgw, "vpn_gateway_id": vgw, "static_routes_only": true}),
    )
    .await;
    assert_eq!(vpn.attributes["state"], "available");
    assert_eq!(vpn.properties["static_routes_only"], true);
    assert!(vpn.properties["tunnel1_inside_cidr"].is_string());
}

fn workspace() -> tempfile::TempDir {
    support::networks_workspace(
        "vpn",
        &["eu"],
        "resources:
  vpc:
    type: aws:ec2:Vpc
    properties:
      cidr_block: 10.30.0.0/16
  vgw:
    type: aws:ec2:VpnGateway
    properties:
      vpc_id: ${vpc.id}
  cgw:
    type: aws:ec2:CustomerGateway
    properties:
      bgp_asn: 65010
      ip_address: 203.0.113.9
  vpn:
    type: aws:ec2:VpnConnection
    properties:
      customer_gateway_id: ${cgw.id}
      vpn_gateway_id: ${vgw.id}
      tunnel1_inside_cidr: 169.254.21.0/30
",
    )
}

fn all_no_op(plan: &terrace::plan::Plan) -> bool {
    plan.stacks
        .iter()
        .all(|s| s.changes.iter().all(|c| c.action == Action::NoOp))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_apply_and_a_refresh_the_plan_changes_nothing_and_destroy_removes_it() {
    let moto = Moto::start();
    let layer = layer(&moto, lenient(11)).await;
    let dir = workspace();
    // The connection's keys are secrets: the workspace needs a key to seal them.
    let key = Arc::new(terrace::secrets::Secrets::from_key(&[9u8; 32]));
    let open = || {
        let mut registry = Registry::new();
        registry.register(Arc::new(provider_at(&layer.endpoint(), 2)));
        Terrace::open_with_secrets(dir.path(), |_| Ok(registry), |_| Ok(Some(key.clone())))
            .expect("workspace opens")
    };
    let terrace = open();
    let plan = terrace.plan(&PlanOptions::default()).await.expect("plan");
    let applied = terrace
        .apply_with(plan, ApplyOptions::default(), EventSink::none())
        .await
        .unwrap();
    assert_eq!(
        applied.stacks[0].status,
        StackStatus::Succeeded,
        "{applied:#?}"
    );
    let listed = in_moto(&moto).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1, "available");
    // The keys AWS generated are kept sealed.
    let state = terrace.state("networks/eu/a").await.unwrap().unwrap();
    let vpn = &state.resources["vpn"].attributes;
    assert!(
        terrace::secrets::is_sealed(&vpn["tunnel1_preshared_key"]),
        "{vpn:?}"
    );
    assert!(
        terrace::secrets::is_sealed(&vpn["tunnel2_preshared_key"]),
        "{vpn:?}"
    );

    // Tunnel 2's block was left to AWS: neither that nor anything else shows as a change.
    let terrace = open();
    let again = terrace.plan(&PlanOptions::default()).await.unwrap();
    assert!(all_no_op(&again), "{:#?}", again.stacks[0].changes);
    let report = terrace
        .refresh(&Selector::default(), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(report.drift.is_empty(), "{:#?}", report.drift);
    let after_refresh = terrace.plan(&PlanOptions::default()).await.unwrap();
    assert!(
        all_no_op(&after_refresh),
        "{:#?}",
        after_refresh.stacks[0].changes
    );

    let destroy = terrace
        .plan(&PlanOptions {
            destroy: true,
            ..PlanOptions::default()
        })
        .await
        .unwrap();
    let destroyed = terrace
        .apply_with(destroy, ApplyOptions::default(), EventSink::none())
        .await
        .unwrap();
    assert_eq!(
        destroyed.stacks[0].status,
        StackStatus::Succeeded,
        "{destroyed:#?}"
    );
    assert!(in_moto(&moto)
        .await
        .iter()
        .all(|(_, state)| state == "deleted"));
}
