"""The routes of a workspace's replica networks, listed directly — boto3 against moto, plain REST
against the Compute Engine emulator — with the state of the path each route takes.

Usage: python mesh.py WORKSPACE MOTO_URL GCE_URL CLOUD:REGION...
Prints JSON {"networks": [...]}: one entry per replica network the workspace owns,
{"cloud", "stack", "network", "cidr", "tables": [{"id", "routes": [{"destination", "target",
"state", "path": {...}}]}]}. An AWS network has one table per route table of its VPC; a GCP
network one table holding the network's routes. A route's `path` describes its target: a VPC
peering connection (`kind`, `status`, `vpcs`), a virtual private gateway with its VPN
connections (`kind`, `state`, `tunnels`), a VPN tunnel (`kind`, `status`) or a network peering
(`kind`, `state`, `networks`).
"""
import json
import sys
import time
import urllib.error
import urllib.request

import boto3

workspace, moto, gce = sys.argv[1], sys.argv[2], sys.argv[3]
aws_regions = [r[4:] for r in sys.argv[4:] if r.startswith("aws:")]
gcp_regions = [r[4:] for r in sys.argv[4:] if r.startswith("gcp:")]
networks = []


BASE = dict(aws_access_key_id="testing", aws_secret_access_key="testing")


def client(service, region, creds=None):
    return boto3.client(service, region_name=region, endpoint_url=moto, **(creds or BASE))


def assumed(account):
    """Credentials of the member account's OrganizationAccountAccessRole (moto keeps accounts
    apart by the credentials a request is signed with)."""
    c = client("sts", "us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        RoleSessionName="mesh")["Credentials"]
    return dict(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                aws_session_token=c["SessionToken"])


def places():
    """(account, credentials) of the management account and every active member account."""
    org = client("organizations", "us-east-1")
    try:
        accounts = org.list_accounts()["Accounts"]
        management = org.describe_organization()["Organization"]["MasterAccountId"]
    except org.exceptions.AWSOrganizationsNotInUseException:
        return [(None, BASE)]
    return [(management, BASE)] + [(a["Id"], assumed(a["Id"])) for a in accounts
                                   if a["Status"] == "ACTIVE" and a["Id"] != management]


def tags_of(items):
    return {t["Key"]: t["Value"] for t in items or []}


def aws_path(ec2, route):
    pcx = route.get("VpcPeeringConnectionId")
    if pcx:
        found = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])
        for item in found["VpcPeeringConnections"]:
            if item["VpcPeeringConnectionId"] == pcx:
                return {"kind": "vpc-peering", "status": item["Status"]["Code"],
                        "vpcs": [item["RequesterVpcInfo"]["VpcId"],
                                 item["AccepterVpcInfo"]["VpcId"]]}
        return {"kind": "vpc-peering", "status": "missing"}
    gateway = route.get("GatewayId", "")
    if gateway.startswith("vgw-"):
        vgw = ec2.describe_vpn_gateways(VpnGatewayIds=[gateway])["VpnGateways"][0]
        connections = ec2.describe_vpn_connections(
            Filters=[{"Name": "vpn-gateway-id", "Values": [gateway]}])["VpnConnections"]
        return {"kind": "vpn-gateway", "state": vgw["State"],
                "attachments": [a["VpcId"] for a in vgw.get("VpcAttachments", [])
                                if a["State"] == "attached"],
                "connections": [{"id": c["VpnConnectionId"], "state": c["State"],
                                 "customer_gateway": c["CustomerGatewayId"]}
                                for c in connections if c["VpnGatewayId"] == gateway]}
    return {"kind": "gateway" if gateway else "other", "id": gateway}


for (account, creds), region in [(p, r) for p in places() for r in aws_regions]:
    ec2 = client("ec2", region, creds)
    for vpc in ec2.describe_vpcs()["Vpcs"]:
        tags = tags_of(vpc.get("Tags"))
        if tags.get("terrace:workspace") != workspace:
            continue
        tables = []
        for table in ec2.describe_route_tables(
                Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["RouteTables"]:
            if table["VpcId"] != vpc["VpcId"]:
                continue
            routes = []
            for route in table["Routes"]:
                if route.get("GatewayId") == "local" or "DestinationCidrBlock" not in route:
                    continue
                routes.append({"destination": route["DestinationCidrBlock"],
                               "state": route.get("State"),
                               "path": aws_path(ec2, route)})
            main = any(a.get("Main") for a in table.get("Associations", []))
            tables.append({"id": table["RouteTableId"], "main": main, "routes": routes})
        networks.append({"cloud": "aws", "region": region, "stack": tags.get("terrace:stack"),
                         "network": vpc["VpcId"], "cidr": vpc["CidrBlock"], "tables": tables})


def get(url):
    """GET with the retries the cloud profile's throttling (403, 429) and 503s need."""
    for attempt in range(12):
        try:
            with urllib.request.urlopen(url) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as error:
            if error.code not in (403, 429, 500, 503) or attempt == 11:
                raise
            time.sleep(min(0.05 * 2 ** attempt, 2.0))


def decode(label):
    """Terrace's label encoding (`_s` is `/`, `__` is `_`, `_XX` a hex byte)."""
    out, i = "", 0
    while i < len(label):
        if label[i] == "_":
            nxt = label[i + 1]
            if nxt == "_":
                out, i = out + "_", i + 2
            elif nxt == "s":
                out, i = out + "/", i + 2
            else:
                out, i = out + chr(int(label[i + 1:i + 3], 16)), i + 3
        else:
            out, i = out + label[i], i + 1
    return out


def gcp_stack(item):
    """The stack owning a GCP resource of the workspace, from its labels or description."""
    labels = item.get("labels") or {}
    if decode(labels.get("terrace-workspace", "")) == workspace:
        return decode(labels.get("terrace-stack", ""))
    words = dict(w.split("=", 1) for w in (item.get("description") or "").split() if "=" in w)
    if words.get("managed-by") == "terrace" and decode(words.get("workspace", "")) == workspace:
        return decode(words.get("stack", ""))
    return None


def gcp_projects():
    """The sandbox's base project and every active project of the emulator."""
    listed = get(f"{gce}/v3/projects").get("projects", [])
    ids = [p["projectId"] for p in listed if p.get("state") == "ACTIVE"]
    return ["terrace-sandbox"] + [i for i in ids if i != "terrace-sandbox"]


def gcp_tables(compute, network, tunnels, subnets_of):
    """The routes of one network to other ranges: static routes (routes.list), the routes its
    Cloud Routers install (getRouterStatus bestRoutes, through VPN tunnels) and the subnet
    routes of active peerings (the peer's subnetworks)."""
    table = []
    for route in get(f"{compute}/global/routes").get("items", []):
        if route["network"] != network["selfLink"] or route.get("nextHopNetwork"):
            continue
        if route.get("nextHopVpnTunnel"):
            tunnel = tunnels.get(route["nextHopVpnTunnel"], {})
            path = {"kind": "vpn-tunnel", "status": tunnel.get("status", "missing")}
        elif route.get("nextHopGateway"):
            path = {"kind": "gateway", "id": route["nextHopGateway"]}
        else:
            path = {"kind": "other"}
        table.append({"destination": route["destRange"], "state": "static", "path": path})
    for region in gcp_regions:
        for router in get(f"{compute}/regions/{region}/routers").get("items", []):
            if router["network"] != network["selfLink"]:
                continue
            status = get(f"{compute}/regions/{region}/routers/{router['name']}/getRouterStatus")
            for route in status["result"].get("bestRoutes", []):
                tunnel = tunnels.get(route.get("nextHopVpnTunnel"), {})
                table.append({"destination": route["destRange"], "state": route.get("routeStatus"),
                              "path": {"kind": "vpn-tunnel",
                                       "status": tunnel.get("status", "missing")}})
    for peering in network.get("peerings", []):
        for subnet in subnets_of(peering["network"]):
            table.append({"destination": subnet["ipCidrRange"], "state": "peering",
                          "path": {"kind": "network-peering", "state": peering.get("state"),
                                   "networks": [network["selfLink"], peering["network"]]}})
    return table


if gcp_regions:
    computes = [f"{gce}/compute/v1/projects/{p}" for p in gcp_projects()]
    tunnels = {}
    subnets = []
    for compute, region in [(c, r) for c in computes for r in gcp_regions]:
        for tunnel in get(f"{compute}/regions/{region}/vpnTunnels").get("items", []):
            tunnels[tunnel["selfLink"]] = tunnel
        subnets += get(f"{compute}/regions/{region}/subnetworks").get("items", [])

    def subnets_of(link):
        return [s for s in subnets if s["network"] == link]

    for compute in computes:
        for network in get(f"{compute}/global/networks").get("items", []):
            stack = gcp_stack(network)
            if stack is None:
                continue
            table = gcp_tables(compute, network, tunnels, subnets_of)
            networks.append({"cloud": "gcp", "stack": stack, "network": network["selfLink"],
                             "cidr": [s["ipCidrRange"]
                                      for s in subnets_of(network["selfLink"])],
                             "tables": [{"id": network["selfLink"], "main": False,
                                         "routes": table}]})

print(json.dumps({"networks": networks}))
