//! Eventual consistency after a create. AWS documents that "if you run a command to modify or
//! describe the resource that you just created, its ID might not have propagated throughout the
//! system, and you will get an error responding that the resource does not exist" ("Eventual
//! consistency in the Amazon EC2 API",
//! <https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html>); users of every
//! IaC tool hit it daily (hashicorp/terraform#2174 "IGW sometimes takes time to create":
//! `InvalidInternetGatewayID.NotFound` on AttachInternetGateway right after the create;
//! hashicorp/terraform#7890 on CreateTags).
//!
//! So for a seeded delay after a create answered a new id (VPC, subnet, security group, internet
//! gateway, route table, launch template, network interface, instance, NAT gateway, address,
//! peering, transit gateway, VPN pieces; load balancers, target groups and listeners by ARN):
//! - a call that names the id in a parameter answers the service's real not-found error;
//! - a Describe call that would list it (by a filter, by tags or unfiltered) does not list it.

use crate::answer::AwsError;
use crate::call::{Call, Protocol};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// EC2 id prefixes, their not-found code, and the message AWS words for them (`{}` is the id).
const EC2_IDS: &[(&str, &str, &str)] = &[
    (
        "vpc-",
        "InvalidVpcID.NotFound",
        "The vpc ID '{}' does not exist",
    ),
    (
        "subnet-",
        "InvalidSubnetID.NotFound",
        "The subnet ID '{}' does not exist",
    ),
    (
        "sg-",
        "InvalidGroup.NotFound",
        "The security group '{}' does not exist",
    ),
    (
        "igw-",
        "InvalidInternetGatewayID.NotFound",
        "The internetGateway ID '{}' does not exist",
    ),
    (
        "rtb-",
        "InvalidRouteTableID.NotFound",
        "The routeTable ID '{}' does not exist",
    ),
    (
        "lt-",
        "InvalidLaunchTemplateId.NotFound",
        "The specified launch template, with template ID {}, does not exist.",
    ),
    (
        "eni-",
        "InvalidNetworkInterfaceID.NotFound",
        "The networkInterface ID '{}' does not exist",
    ),
    (
        "i-",
        "InvalidInstanceID.NotFound",
        "The instance ID '{}' does not exist",
    ),
    (
        "nat-",
        "NatGatewayNotFound",
        "The Nat Gateway {} was not found",
    ),
    (
        "eipalloc-",
        "InvalidAllocationID.NotFound",
        "The allocation ID '{}' does not exist",
    ),
    (
        "pcx-",
        "InvalidVpcPeeringConnectionID.NotFound",
        "The vpcPeeringConnection ID '{}' does not exist",
    ),
    (
        "tgw-attach-",
        "InvalidTransitGatewayAttachmentID.NotFound",
        "Transit Gateway Attachment {} was deleted or does not exist.",
    ),
    (
        "tgw-",
        "InvalidTransitGatewayID.NotFound",
        "Transit Gateway {} was deleted or does not exist.",
    ),
    (
        "vgw-",
        "InvalidVpnGatewayID.NotFound",
        "The vpnGateway ID '{}' does not exist",
    ),
    (
        "cgw-",
        "InvalidCustomerGatewayID.NotFound",
        "The customerGateway ID '{}' does not exist",
    ),
    (
        "vpn-",
        "InvalidVpnConnectionID.NotFound",
        "The vpnConnection ID '{}' does not exist",
    ),
];

/// The kind of a new id, if it is one this layer tracks.
fn ec2_kind(value: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    EC2_IDS.iter().find(|(prefix, _, _)| {
        value.strip_prefix(prefix).is_some_and(|rest| {
            (8..=17).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_hexdigit())
        })
    })
}

/// `loadbalancer`, `targetgroup` or `listener` for an ELBv2 ARN.
fn elb_kind(value: &str) -> Option<&'static str> {
    let rest = value.strip_prefix("arn:aws:elasticloadbalancing:")?;
    let resource = rest.splitn(3, ':').nth(2)?;
    ["loadbalancer", "targetgroup", "listener"]
        .into_iter()
        .find(|kind| resource.starts_with(&format!("{kind}/")))
}

/// True for values this layer tracks after a create.
pub fn is_tracked(value: &str) -> bool {
    ec2_kind(value).is_some() || elb_kind(value).is_some()
}

/// The not-found error a service answers for a call naming `id` before it propagated.
pub fn not_found(call: &Call, id: &str) -> AwsError {
    let ec2 = ec2_kind(id);
    match (call.protocol, call.service.as_str()) {
        (Protocol::Ec2Query, _) => {
            let (_, code, message) = ec2.copied().unwrap_or(("", "InvalidID", "The ID '{}' is not valid"));
            AwsError::new(400, code, message.replace("{}", id))
        }
        // Elastic Load Balancing v2 API reference, errors of CreateLoadBalancer,
        // CreateListener, DescribeTags, CreateTargetGroup.
        (_, "elasticloadbalancing") => match (elb_kind(id), ec2.map(|e| e.0)) {
            (Some("loadbalancer"), _) => AwsError::new(400, "LoadBalancerNotFound", "One or more load balancers not found"),
            (Some("targetgroup"), _) => AwsError::new(400, "TargetGroupNotFound", "One or more target groups not found"),
            (Some(_), _) => AwsError::new(400, "ListenerNotFound", "One or more listeners not found"),
            (None, Some("subnet-")) => AwsError::new(400, "SubnetNotFound", format!("The subnet ID '{id}' does not exist")),
            (None, Some("sg-")) => AwsError::new(400, "InvalidSecurityGroup", format!("The security group '{id}' does not exist")),
            (None, Some("i-")) => AwsError::new(400, "InvalidTarget", format!("The instance ID '{id}' does not exist")),
            _ => AwsError::new(400, "ValidationError", format!("The VPC ID '{id}' is not found")),
        },
        // Auto Scaling answers ValidationError for a launch template, subnet or target group
        // it cannot find (Auto Scaling API reference, CreateAutoScalingGroup).
        (_, "autoscaling") => match (elb_kind(id), ec2.map(|e| e.0)) {
            (_, Some("lt-")) => AwsError::new(400, "ValidationError", format!("You must use a valid fully-formed launch template. The specified launch template, with template ID {id}, does not exist.")),
            (_, Some("subnet-")) => AwsError::new(400, "ValidationError", format!("The subnet ID '{id}' does not exist")),
            _ => AwsError::new(400, "ValidationError", format!("Provided Target Groups may not be valid. Please ensure they exist and try again. ({id} does not exist)")),
        },
        _ => AwsError::new(400, "ResourceNotFound", format!("{id} does not exist")),
    }
}

/// Ids created moments ago and not yet visible.
#[derive(Debug)]
pub struct Consistency {
    /// Seeded delay range after a create.
    pub window: (Duration, Duration),
    hidden: Mutex<HashMap<String, Instant>>,
    /// Every id hidden so far. An id is new once: a later create whose answer repeats it
    /// without the request naming it (CreateNatGateway, RunInstances and CreateLoadBalancer
    /// answer their VPC's id) must not hide a resource that propagated long ago.
    introduced: Mutex<HashSet<String>>,
}

impl Consistency {
    /// Tracks new ids for a delay drawn from `window`.
    pub fn new(window: (Duration, Duration)) -> Consistency {
        Consistency {
            window,
            hidden: Mutex::default(),
            introduced: Mutex::default(),
        }
    }

    /// Hides `id` until `until`, unless it was hidden before (then it is not new); true when
    /// it was hidden now.
    pub fn hide(&self, id: String, until: Instant) -> bool {
        if !self.introduced.lock().expect("lock").insert(id.clone()) {
            return false;
        }
        self.hidden.lock().expect("lock").insert(id, until);
        true
    }

    /// The ids still hidden now.
    pub fn hidden_now(&self) -> HashSet<String> {
        let now = Instant::now();
        let mut hidden = self.hidden.lock().expect("lock");
        hidden.retain(|_, until| *until > now);
        hidden.keys().cloned().collect()
    }

    /// The first id a call names that is still hidden.
    pub fn named_hidden(&self, call: &Call) -> Option<String> {
        let hidden = self.hidden_now();
        if hidden.is_empty() {
            return None;
        }
        call.named_values()
            .chain(call.json_strings().iter().map(String::as_str))
            .find(|v| hidden.contains(*v))
            .map(str::to_string)
    }
}

/// The ids a create's answer introduces: tracked ids in the answer that the request did not
/// name (a CreateSubnet answer repeats its VPC's id, which is not new).
pub fn new_ids(call: &Call, answer: &str) -> Vec<String> {
    let named: HashSet<String> = call.all_values().into_iter().collect();
    let mut out: Vec<String> = crate::xml::all_texts(answer)
        .into_iter()
        .filter(|t| is_tracked(t) && !named.contains(t))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn call(service: &str, body: &str) -> Call {
        let mut h = HeaderMap::new();
        let auth =
            format!("AWS4-HMAC-SHA256 Credential=K/20260101/eu-west-1/{service}/aws4_request");
        h.insert("authorization", auth.parse().unwrap());
        Call::parse(&h, body.as_bytes())
    }

    #[test]
    fn ids_are_recognised_by_prefix_and_arn() {
        assert!(is_tracked("vpc-0a1b2c3d4e5f60718"));
        assert!(is_tracked("subnet-7ae77a251bfd7da96"));
        assert!(!is_tracked("vpc-xyz"));
        assert!(!is_tracked("10.0.0.0/16"));
        assert!(is_tracked(
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tg/08b308f7105db5f0"
        ));
        assert!(!is_tracked("arn:aws:iam::123456789012:role/x"));
    }

    #[test]
    fn each_service_answers_its_own_not_found() {
        let attach = call(
            "ec2",
            "Action=AttachInternetGateway&InternetGatewayId=igw-0123456789abcdef0&VpcId=vpc-1",
        );
        let e = not_found(&attach, "igw-0123456789abcdef0");
        assert_eq!(e.code, "InvalidInternetGatewayID.NotFound");
        assert_eq!(
            e.message,
            "The internetGateway ID 'igw-0123456789abcdef0' does not exist"
        );
        let asg = call("autoscaling", "Action=CreateAutoScalingGroup");
        assert!(not_found(&asg, "lt-0123456789abcdef0")
            .message
            .contains("does not exist"));
        let tg = "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/t/0123456789abcdef";
        let listener = call("elasticloadbalancing", "Action=CreateListener");
        assert_eq!(not_found(&listener, tg).code, "TargetGroupNotFound");
    }

    #[test]
    fn new_ids_exclude_what_the_request_named() {
        let c = call(
            "ec2",
            "Action=CreateSubnet&VpcId=vpc-0123456789abcdef0&CidrBlock=10.0.1.0/24",
        );
        let answer = "<CreateSubnetResponse><subnet><subnetId>subnet-0123456789abcdef1</subnetId><vpcId>vpc-0123456789abcdef0</vpcId></subnet></CreateSubnetResponse>";
        assert_eq!(new_ids(&c, answer), vec!["subnet-0123456789abcdef1"]);
    }

    #[test]
    fn an_id_is_new_once() {
        let c = Consistency::new((Duration::ZERO, Duration::ZERO));
        let vpc = "vpc-0123456789abcdef0";
        assert!(c.hide(vpc.into(), Instant::now()));
        // A NAT gateway's answer, later, repeats the VPC's id: it stays visible.
        assert!(!c.hide(vpc.into(), Instant::now() + Duration::from_secs(60)));
        let named = call(
            "ec2",
            "Action=CreateSecurityGroup&VpcId=vpc-0123456789abcdef0",
        );
        assert_eq!(c.named_hidden(&named), None);
    }

    #[test]
    fn hidden_ids_expire() {
        let c = Consistency::new((Duration::ZERO, Duration::ZERO));
        c.hide(
            "vpc-0123456789abcdef0".into(),
            Instant::now() + Duration::from_secs(60),
        );
        c.hide("vpc-0123456789abcdef1".into(), Instant::now());
        let attach = call("ec2", "Action=CreateSubnet&VpcId=vpc-0123456789abcdef0");
        assert_eq!(
            c.named_hidden(&attach).as_deref(),
            Some("vpc-0123456789abcdef0")
        );
        let other = call("ec2", "Action=CreateSubnet&VpcId=vpc-0123456789abcdef1");
        assert_eq!(c.named_hidden(&other), None);
    }
}
