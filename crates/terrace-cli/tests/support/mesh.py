"""The routes of a workspace's replica networks, listed directly — boto3 against moto, plain REST
against the Compute Engine emulator — with the state of the path each route takes.

Usage: python mesh.py WORKSPACE MOTO_URL GCE_URL CLOUD:REGION...
Prints JSON {"networks": [...], "preshared_keys": [...]} (the pre-shared keys of the workspace's
VPN connections as AWS answers them — read through the sandbox's AWS layer, `TERRACE_AWS_LAYER`,
since moto keeps no tunnel options — for tests that look for them where they must not be): one entry per replica network the workspace owns,
{"cloud", "stack", "network", "cidr", "tables": [{"id", "routes": [{"destination", "target",
"state", "path": {...}}]}]}. An AWS network has one table per route table of its VPC; a GCP
network one table holding the network's routes. A route's `path` describes its target: a VPC
peering connection (`kind`, `status`, `vpcs`), a virtual private gateway with its VPN
connections (`kind`, `state`, `tunnels`), a VPN tunnel (`kind`, `status`) or a network peering
(`kind`, `state`, `networks`).
"""
import json
import os
import sys

from sandbox_clouds import aws_client, aws_places, compute as get, gcp_owner, gcp_projects, tags_of

workspace, moto, gce = sys.argv[1], sys.argv[2], sys.argv[3]
aws_regions = [r[4:] for r in sys.argv[4:] if r.startswith("aws:")]
gcp_regions = [r[4:] for r in sys.argv[4:] if r.startswith("gcp:")]
networks = []
preshared_keys = []


def client(service, region, creds=None):
    return aws_client(moto, service, region, creds)


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


for (account, creds), region in [(p, r) for p in aws_places(moto, "mesh") for r in aws_regions]:
    ec2 = client("ec2", region, creds)
    layer = aws_client(os.environ.get("TERRACE_AWS_LAYER", moto), "ec2", region, creds)
    for connection in layer.describe_vpn_connections()["VpnConnections"]:
        if tags_of(connection.get("Tags")).get("terrace:workspace") == workspace:
            for tunnel in connection.get("Options", {}).get("TunnelOptions", []):
                if tunnel.get("PreSharedKey"):
                    preshared_keys.append(tunnel["PreSharedKey"])
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


def gcp_stack(item):
    """The stack owning a GCP resource of the workspace, from its labels or description."""
    owner, stack, _ = gcp_owner(item)
    return stack if owner == workspace else None


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
    computes = [f"{gce}/compute/v1/projects/{p}" for p in gcp_projects(gce)]
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

print(json.dumps({"networks": networks, "preshared_keys": preshared_keys}))
