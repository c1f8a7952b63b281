//! The sandbox's AWS behaviour layer (`aws-sandbox`), behaviour by behaviour, through the real
//! AWS SDK clients with their retries off (each answer as it is), checked against moto itself:
//! eventual consistency of new ids, throttling in each service's shape, lost create answers,
//! in-use refusals, EC2 client tokens, and closed accounts out of reach.

mod support;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::Filter;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::*;

fn code<E: ProvideErrorMetadata>(err: &E) -> String {
    err.code().unwrap_or("?").to_string()
}

fn vpc_filter(id: &str) -> Filter {
    Filter::builder().name("vpc-id").values(id).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_id_is_not_found_and_not_listed_until_it_propagates() {
    let moto = Moto::start();
    let window = Duration::from_millis(600);
    let layer = layer(
        &moto,
        aws_sandbox::Behaviour {
            consistency: Some((window, window)),
            ..lenient(1)
        },
    )
    .await;
    let ec2 = ec2_at(&layer.endpoint(), false);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .and_then(|v| v.vpc_id())
        .unwrap()
        .to_string();
    // A call naming it: EC2's own not-found code (the real message names the id).
    let err = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.0.1.0/24")
        .send()
        .await
        .expect_err("not visible yet");
    assert_eq!(code(&err), "InvalidVpcID.NotFound");
    assert!(format!("{:?}", err.message()).contains(&vpc));
    // A Describe that would list it does not, by filter or unfiltered.
    let by_filter = ec2
        .describe_vpcs()
        .filters(vpc_filter(&vpc))
        .send()
        .await
        .unwrap();
    assert!(by_filter.vpcs().is_empty());
    let all = ec2.describe_vpcs().send().await.unwrap();
    assert!(all.vpcs().iter().all(|v| v.vpc_id() != Some(vpc.as_str())));
    // moto itself has it all along.
    let direct = moto
        .ec2()
        .describe_vpcs()
        .filters(vpc_filter(&vpc))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.vpcs().len(), 1);

    tokio::time::sleep(window + Duration::from_millis(100)).await;
    assert_eq!(
        ec2.describe_vpcs()
            .filters(vpc_filter(&vpc))
            .send()
            .await
            .unwrap()
            .vpcs()
            .len(),
        1
    );
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.0.1.0/24")
        .availability_zone(format!("{REGION}a"))
        .send()
        .await
        .expect("visible now")
        .subnet()
        .and_then(|s| s.subnet_id())
        .unwrap()
        .to_string();

    // Auto Scaling names a launch template it cannot see yet with its ValidationError.
    let template = ec2
        .create_launch_template()
        .launch_template_name("lt")
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id("ami-12c6146b")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .launch_template()
        .and_then(|t| t.launch_template_id())
        .unwrap()
        .to_string();
    let asg = autoscaling_at(&layer.endpoint(), false);
    let err = asg
        .create_auto_scaling_group()
        .auto_scaling_group_name("g")
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(&template)
                .build(),
        )
        .min_size(0)
        .max_size(0)
        .vpc_zone_identifier(&subnet)
        .send()
        .await
        .expect_err("the template is not visible yet");
    assert_eq!(code(&err), "ValidationError");
    assert!(format!("{:?}", err.message()).contains("does not exist"));

    // ELBv2: a listener forwarding to a target group created a moment ago.
    let elb = elbv2_at(&layer.endpoint(), false);
    let group = elb
        .create_target_group()
        .name("tg")
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Tcp)
        .port(5432)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    let err = elb
        .describe_target_groups()
        .target_group_arns(&group)
        .send()
        .await
        .expect_err("named before it propagated");
    assert_eq!(code(&err), "TargetGroupNotFound");
    let listed = elb.describe_target_groups().send().await.unwrap();
    assert!(listed.target_groups().is_empty(), "left out of the listing");
    assert!(layer.stats.not_yet_visible.load(Ordering::Relaxed) >= 3);
    assert!(layer.stats.left_out.load(Ordering::Relaxed) >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_throttles_in_its_own_shape() {
    let moto = Moto::start();
    let layer = layer(
        &moto,
        aws_sandbox::Behaviour {
            throttle_rate: 1.0,
            ..lenient(2)
        },
    )
    .await;
    let endpoint = layer.endpoint();
    let ec2 = ec2_at(&endpoint, false)
        .describe_vpcs()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&ec2), "RequestLimitExceeded");
    assert_eq!(ec2.raw_response().map(|r| r.status().as_u16()), Some(503));
    let elb = elbv2_at(&endpoint, false)
        .describe_load_balancers()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&elb), "Throttling");
    assert_eq!(elb.raw_response().map(|r| r.status().as_u16()), Some(400));
    let asg = autoscaling_at(&endpoint, false)
        .describe_auto_scaling_groups()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&asg), "Throttling");
    assert_eq!(asg.raw_response().map(|r| r.status().as_u16()), Some(400));
    let org = organizations_at(&endpoint, false)
        .list_accounts()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&org), "TooManyRequestsException");
    assert_eq!(org.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert_eq!(layer.stats.throttled.load(Ordering::Relaxed), 4);
    // The SDK classifies each as throttling and retries it: through a kinder layer, with
    // retries on, calls succeed.
    let some = self::layer(
        &moto,
        aws_sandbox::Behaviour {
            throttle_rate: 0.5,
            ..lenient(9)
        },
    )
    .await;
    for _ in 0..5 {
        ec2_at(&some.endpoint(), true)
            .describe_vpcs()
            .send()
            .await
            .unwrap();
    }
    assert!(some.stats.throttled.load(Ordering::Relaxed) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_answer_was_carried_out() {
    let moto = Moto::start();
    let layer = layer(
        &moto,
        aws_sandbox::Behaviour {
            lost_answer_rate: 1.0,
            ..lenient(5)
        },
    )
    .await;
    let ec2 = ec2_at(&layer.endpoint(), false);
    for cidr in ["10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/16"] {
        ec2.create_vpc()
            .cidr_block(cidr)
            .send()
            .await
            .expect_err("the answer is lost");
        let filter = Filter::builder().name("cidr").values(cidr).build();
        let direct = moto
            .ec2()
            .describe_vpcs()
            .filters(filter)
            .send()
            .await
            .unwrap();
        assert_eq!(
            direct.vpcs().len(),
            1,
            "moto carried out the create of {cidr}"
        );
    }
    assert_eq!(layer.stats.lost.load(Ordering::Relaxed), 4);
    // Reads are never lost.
    ec2.describe_vpcs().send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_of_what_is_still_in_use_are_refused_as_aws_refuses_them() {
    let moto = Moto::start();
    let layer = layer(
        &moto,
        aws_sandbox::Behaviour {
            in_use_refusals: true,
            ..lenient(4)
        },
    )
    .await;
    let endpoint = layer.endpoint();
    let ec2 = ec2_at(&endpoint, false);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_string();
    let subnet = |cidr: &'static str| {
        let ec2 = ec2.clone();
        let vpc = vpc.clone();
        async move {
            ec2.create_subnet()
                .vpc_id(vpc)
                .cidr_block(cidr)
                .availability_zone(format!("{REGION}a"))
                .send()
                .await
                .unwrap()
                .subnet()
                .and_then(|s| s.subnet_id())
                .unwrap()
                .to_string()
        }
    };
    let (nodes_subnet, balancer_subnet) =
        (subnet("10.0.1.0/24").await, subnet("10.0.2.0/24").await);
    let group = ec2
        .create_security_group()
        .group_name("db")
        .description("d")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    let template = ec2
        .create_launch_template()
        .launch_template_name("nodes")
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id("ami-12c6146b")
                .security_group_ids(&group)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .launch_template()
        .and_then(|t| t.launch_template_id())
        .unwrap()
        .to_string();
    let asg = autoscaling_at(&endpoint, false);
    asg.create_auto_scaling_group()
        .auto_scaling_group_name("nodes")
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(&template)
                .build(),
        )
        .min_size(1)
        .max_size(1)
        .desired_capacity(1)
        .vpc_zone_identifier(&nodes_subnet)
        .send()
        .await
        .unwrap();
    // The group's instance uses the security group and the subnet (through its interface).
    let err = ec2
        .delete_security_group()
        .group_id(&group)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DependencyViolation");
    assert!(format!("{:?}", err.message()).contains("has a dependent object"));
    let err = ec2
        .delete_subnet()
        .subnet_id(&nodes_subnet)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DependencyViolation");
    // A load balancer has an interface in each of its subnets.
    let elb = elbv2_at(&endpoint, false);
    let balancer = elb
        .create_load_balancer()
        .name("lb")
        .r#type(aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum::Network)
        .scheme(aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::Internal)
        .subnets(&balancer_subnet)
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    let err = ec2
        .delete_subnet()
        .subnet_id(&balancer_subnet)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DependencyViolation");
    assert_eq!(layer.stats.in_use_refused.load(Ordering::Relaxed), 3);
    // Nothing was deleted behind the refusals.
    assert_eq!(
        moto.ec2()
            .describe_subnets()
            .filters(vpc_filter(&vpc))
            .send()
            .await
            .unwrap()
            .subnets()
            .len(),
        2
    );

    // Once the users are gone, the deletes go through (a terminated instance's interface no
    // longer counts, as EC2 deletes it with the instance).
    elb.delete_load_balancer()
        .load_balancer_arn(&balancer)
        .send()
        .await
        .unwrap();
    ec2.delete_subnet()
        .subnet_id(&balancer_subnet)
        .send()
        .await
        .unwrap();
    asg.delete_auto_scaling_group()
        .auto_scaling_group_name("nodes")
        .force_delete(true)
        .send()
        .await
        .unwrap();
    ec2.delete_security_group()
        .group_id(&group)
        .send()
        .await
        .unwrap();
    ec2.delete_subnet()
        .subnet_id(&nodes_subnet)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_client_token_gets_the_first_answer() {
    let moto = Moto::start();
    let layer = layer(&moto, lenient(6)).await;
    let ec2 = ec2_at(&layer.endpoint(), false);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_string();
    let create = || {
        ec2.create_route_table()
            .vpc_id(&vpc)
            .client_token("same-token")
            .send()
    };
    let first = create().await.unwrap();
    let again = create().await.unwrap();
    let id = |answer: &aws_sdk_ec2::operation::create_route_table::CreateRouteTableOutput| {
        answer
            .route_table()
            .and_then(|t| t.route_table_id())
            .unwrap()
            .to_string()
    };
    assert_eq!(id(&first), id(&again));
    let tables = moto
        .ec2()
        .describe_route_tables()
        .filters(vpc_filter(&vpc))
        .send()
        .await
        .unwrap();
    assert_eq!(
        tables.route_tables().len(),
        2,
        "the main table and one more, not two more"
    );
    // The same token with other parameters is refused, as EC2 refuses it.
    let other = ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .unwrap();
    let other = other.vpc().and_then(|v| v.vpc_id()).unwrap().to_string();
    let err = ec2
        .create_route_table()
        .vpc_id(&other)
        .client_token("same-token")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "IdempotentParameterMismatch");
}

/// A member account's id, created through `org` (moto finishes the creation at once).
async fn member_account(org: &aws_sdk_organizations::Client, name: &str) -> String {
    let created = org
        .create_account()
        .account_name(name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .unwrap();
    let status = created.create_account_status().unwrap();
    status.account_id().unwrap().to_string()
}

/// An `AssumeRole` into the member account's `OrganizationAccountAccessRole`.
async fn assume_into(
    sts: &aws_sdk_sts::Client,
    account: &str,
) -> Result<(), aws_sdk_sts::error::SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError>>
{
    sts.assume_role()
        .role_arn(format!(
            "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        ))
        .role_session_name("terrace")
        .send()
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_account_cannot_be_assumed_into() {
    let moto = Moto::start();
    let strict = layer(&moto, lenient(7)).await;
    let org = organizations_at(&strict.endpoint(), false);
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let (closing, staying) = (
        member_account(&org, "closing").await,
        member_account(&org, "staying").await,
    );
    let sts = sts_at(&strict.endpoint(), false);
    assume_into(&sts, &closing)
        .await
        .expect("active: assumable");
    org.close_account()
        .account_id(&closing)
        .send()
        .await
        .unwrap();

    let err = assume_into(&sts, &closing)
        .await
        .expect_err("a closed account's roles are out of reach");
    assert_eq!(code(&err), "AccessDenied");
    let message = err.message().unwrap_or_default().to_string();
    let role = format!("arn:aws:iam::{closing}:role/OrganizationAccountAccessRole");
    assert!(
        message.starts_with("User: arn:aws:")
            && message.ends_with(&format!(
                "is not authorized to perform: sts:AssumeRole on resource: {role}"
            )),
        "{message}"
    );
    assume_into(&sts, &staying)
        .await
        .expect("other accounts stay assumable");
    // moto alone hands out credentials for the closed account: the layer is what refuses.
    assume_into(&sts_at(&moto.endpoint, false), &closing)
        .await
        .expect("moto itself lets the closed account be assumed");
}
