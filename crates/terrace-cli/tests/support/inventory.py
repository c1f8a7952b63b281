"""Everything a Terrace workspace owns in the sandbox, listed directly — boto3 against moto,
plain REST against the Compute Engine emulator — never through Terrace.

Usage: python inventory.py WORKSPACE MOTO_URL GCE_URL CLOUD:REGION...  (aws:eu-west-1 gcp:europe-west3)
Prints a JSON list of {"cloud", "kind", "id", "stack", "resource", "account" | "project"}:
every resource carrying the workspace's ownership tags (AWS) or its ownership
description/labels (GCP), with the AWS account or GCP project it is in; the org policies of
an owned project (kind "org-policy", with the policy itself under "policy") count as its
stack's. AWS is listed in the
management account and, through STS AssumeRole of OrganizationAccountAccessRole, in every
active member account (moto keeps accounts apart by the credentials a request is signed with);
GCP in the sandbox's base project and every active project.
"""
import json
import sys
import urllib.error

from sandbox_clouds import aws_client, aws_places, compute as get, gcp_owner, gcp_policies, tags_of

workspace, moto, gce = sys.argv[1], sys.argv[2], sys.argv[3]
aws_regions = [r[4:] for r in sys.argv[4:] if r.startswith("aws:")]
gcp_regions = [r[4:] for r in sys.argv[4:] if r.startswith("gcp:")]
found = []


def client(service, region, creds=None):
    return aws_client(moto, service, region, creds)


def owned(kind, ident, tags, account):
    if tags.get("terrace:workspace") == workspace:
        found.append({"cloud": "aws", "kind": kind, "id": ident, "account": account,
                      "stack": tags.get("terrace:stack"),
                      "resource": tags.get("terrace:resource")})


EC2 = [
    ("describe_vpcs", "Vpcs", "VpcId", "vpc"),
    ("describe_subnets", "Subnets", "SubnetId", "subnet"),
    ("describe_internet_gateways", "InternetGateways", "InternetGatewayId", "internet-gateway"),
    ("describe_route_tables", "RouteTables", "RouteTableId", "route-table"),
    ("describe_security_groups", "SecurityGroups", "GroupId", "security-group"),
    ("describe_launch_templates", "LaunchTemplates", "LaunchTemplateId", "launch-template"),
]

GONE_PEERINGS = ("deleted", "deleting", "rejected", "failed", "expired")
mesh_seen = set()


def mesh_aws(ec2, account):
    """The replica mesh on AWS: peering connections (listed in both regions, counted once), the
    HA VPN's virtual private gateways, customer gateways and VPN connections, and the routes
    through the workspace's connections and gateways. Routes have no tags: those to
    one destination in one VPC (an aws:ec2:VpcRoute) are attributed to the stack owning their
    target, named by the VpcRoute's id (`<vpc>_<destination>`)."""
    targets = {}
    for pcx in ec2.describe_vpc_peering_connections()["VpcPeeringConnections"]:
        tags = tags_of(pcx.get("Tags"))
        if pcx["Status"]["Code"] in GONE_PEERINGS or tags.get("terrace:workspace") != workspace:
            continue
        targets[pcx["VpcPeeringConnectionId"]] = tags.get("terrace:stack")
        if pcx["VpcPeeringConnectionId"] not in mesh_seen:
            mesh_seen.add(pcx["VpcPeeringConnectionId"])
            owned("vpc-peering-connection", pcx["VpcPeeringConnectionId"], tags, account)
            if pcx["Status"]["Code"] == "active":  # its accepter side, as state records it
                ident = pcx["VpcPeeringConnectionId"] + "_accepter"
                found.append({"cloud": "aws", "kind": "vpc-peering-accepter", "id": ident,
                              "account": account, "stack": tags.get("terrace:stack"), "resource": ident})
    for vgw in ec2.describe_vpn_gateways()["VpnGateways"]:
        tags = tags_of(vgw.get("Tags"))
        if vgw["State"] not in ("deleting", "deleted") and tags.get("terrace:workspace") == workspace:
            targets[vgw["VpnGatewayId"]] = tags.get("terrace:stack")
            owned("vpn-gateway", vgw["VpnGatewayId"], tags, account)
    for cgw in ec2.describe_customer_gateways()["CustomerGateways"]:
        if cgw["State"] not in ("deleting", "deleted"):
            owned("customer-gateway", cgw["CustomerGatewayId"], tags_of(cgw.get("Tags")), account)
    for vpn in ec2.describe_vpn_connections()["VpnConnections"]:
        if vpn["State"] not in ("deleting", "deleted"):
            owned("vpn-connection", vpn["VpnConnectionId"], tags_of(vpn.get("Tags")), account)
    routes = set()
    for table in ec2.describe_route_tables()["RouteTables"]:
        for route in table["Routes"]:
            target = route.get("VpcPeeringConnectionId") or route.get("GatewayId") or ""
            if target in targets and "DestinationCidrBlock" in route:
                # aws:ec2:VpcRoute: one destination in every table of a VPC.
                ident = f"{table['VpcId']}_{route['DestinationCidrBlock']}"
                if ident not in routes:
                    routes.add(ident)
                    found.append({"cloud": "aws", "kind": "vpc-route", "id": ident,
                                  "account": account, "stack": targets[target], "resource": ident})


org = client("organizations", "us-east-1")
try:
    accounts = org.list_accounts()["Accounts"]
    management = org.describe_organization()["Organization"]["MasterAccountId"]
except org.exceptions.AWSOrganizationsNotInUseException:
    accounts, management = [], client("sts", "us-east-1").get_caller_identity()["Account"]
for account in accounts:
    if account["Status"] == "ACTIVE":
        tags = tags_of(org.list_tags_for_resource(ResourceId=account["Id"])["Tags"])
        owned("account", account["Id"], tags, management)

try:
    scps = org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
except org.exceptions.AWSOrganizationsNotInUseException:
    scps = []
for policy in scps:
    tags = tags_of(org.list_tags_for_resource(ResourceId=policy["Id"])["Tags"])
    owned("scp", policy["Id"], tags, management)

places = aws_places(moto, "inventory")
for (account, creds), region in [(p, r) for p in places for r in aws_regions]:
    ec2 = client("ec2", region, creds)
    mesh_aws(ec2, account)
    for call, key, ident, kind in EC2:
        for item in getattr(ec2, call)()[key]:
            owned(kind, item[ident], tags_of(item.get("Tags")), account)
    for gateway in ec2.describe_nat_gateways()["NatGateways"]:
        if gateway["State"] not in ("deleting", "deleted", "failed"):
            owned("nat-gateway", gateway["NatGatewayId"], tags_of(gateway.get("Tags")), account)
    for address in ec2.describe_addresses()["Addresses"]:
        owned("elastic-ip", address["AllocationId"], tags_of(address.get("Tags")), account)
    for reservation in ec2.describe_instances()["Reservations"]:
        for item in reservation["Instances"]:
            if item["State"]["Name"] != "terminated":
                owned("instance", item["InstanceId"], tags_of(item.get("Tags")), account)
    asg = client("autoscaling", region, creds)
    for group in asg.describe_auto_scaling_groups()["AutoScalingGroups"]:
        owned("auto-scaling-group", group["AutoScalingGroupName"], tags_of(group.get("Tags")),
              account)
    elb = client("elbv2", region, creds)
    arns = [lb["LoadBalancerArn"] for lb in elb.describe_load_balancers()["LoadBalancers"]]
    arns += [tg["TargetGroupArn"] for tg in elb.describe_target_groups()["TargetGroups"]]
    for arn in list(arns):
        if ":loadbalancer/" in arn:
            arns += [l["ListenerArn"] for l in elb.describe_listeners(LoadBalancerArn=arn)["Listeners"]]
    for i in range(0, len(arns), 20):
        for desc in elb.describe_tags(ResourceArns=arns[i:i + 20])["TagDescriptions"]:
            owned("elbv2", desc["ResourceArn"], tags_of(desc.get("Tags")), account)


projects = get(f"{gce}/v3/projects").get("projects", [])
for project in projects:
    ws, stack, resource = gcp_owner(project)
    if ws == workspace and project.get("state") == "ACTIVE":
        found.append({"cloud": "gcp", "kind": "project", "id": project["projectId"],
                      "project": None, "stack": stack, "resource": resource})
        # Org policies carry no labels: they belong to the stack of the project they are on.
        for policy in gcp_policies(gce, project["projectId"]):
            # Named by project id, as the API accepts and Terrace records it (answers use
            # the project number).
            constraint = policy["name"].rsplit("/", 1)[-1]
            found.append({"cloud": "gcp", "kind": "org-policy",
                          "id": f"projects/{project['projectId']}/policies/{constraint}",
                          "project": project["projectId"], "stack": stack,
                          "resource": constraint, "policy": policy})

for project in ["terrace-sandbox"] + [p["projectId"] for p in projects
                                      if p.get("state") == "ACTIVE"]:
    compute = f"{gce}/compute/v1/projects/{project}"

    def add(kind, item):
        ws, stack, resource = gcp_owner(item)
        if ws == workspace:
            found.append({"cloud": "gcp", "kind": kind, "id": item["selfLink"], "stack": stack,
                          "resource": resource, "project": project})

    scopes = ["global"] + [f"regions/{r}" for r in gcp_regions]
    for scope in scopes:
        kinds = (["networks", "firewalls", "instanceTemplates", "healthChecks", "backendServices",
                  "forwardingRules", "targetTcpProxies", "externalVpnGateways"]
                 if scope == "global" else
                 ["subnetworks", "instanceGroupManagers", "autoscalers", "healthChecks",
                  "backendServices", "forwardingRules", "routers", "vpnGateways", "vpnTunnels"])
        for kind in kinds:
            for item in get(f"{compute}/{scope}/{kind}").get("items", []):
                add(kind, item)
                if kind == "routers":
                    # BGP sessions (gcp:compute:RouterPeer) live inside their router, owned by
                    # the router's stack: `<router URL>/bgpPeers/<name>`.
                    ws, stack, _ = gcp_owner(item)
                    for peer in item.get("bgpPeers", []) if ws == workspace else []:
                        ident = f"{item['selfLink']}/bgpPeers/{peer['name']}"
                        found.append({"cloud": "gcp", "kind": "bgpPeer", "id": ident,
                                      "stack": stack, "resource": ident, "project": project})
    for region in gcp_regions:
        for suffix in "abcdef":
            try:
                items = get(f"{compute}/zones/{region}-{suffix}/instances").get("items", [])
            except urllib.error.HTTPError:
                continue  # no such zone
            for item in items:
                add("instances", item)

print(json.dumps(found))
