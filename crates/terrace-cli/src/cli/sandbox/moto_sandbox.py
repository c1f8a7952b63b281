"""moto_server for the Terrace sandbox, with two moto 5.1 defects mended so that the sandbox is
never harsher than AWS.

1. CreateLaunchTemplateVersion keeps the version's UserData as a plain string, while
CreateLaunchTemplate wraps it as moto expects; an Auto Scaling group that launches an instance
from such a version then fails with an AssertionError (HTTP 500) in
moto/ec2/models/launch_templates.py. AWS accepts the same request ("CreateLaunchTemplateVersion",
EC2 API reference), so the version's UserData is wrapped here the way CreateLaunchTemplate
wraps it.

2. DeleteNatGateway leaves the gateway's network interface (and its Elastic IP association)
behind, so its subnet could never be deleted once the sandbox refuses to delete subnets that
still hold interfaces. AWS deletes the interface it made for the gateway and disassociates the
Elastic IP ("Delete a NAT gateway", Amazon VPC user guide: "the NAT gateway disassociates its
Elastic IP address, but does not release the address from your account"), so both happen here.

Nothing else changes. Usage: python moto_sandbox.py [moto_server arguments]."""

import sys

from moto.ec2.models.launch_templates import LaunchTemplate
from moto.ec2.utils import parse_user_data

_create_version = LaunchTemplate.create_version


def create_version(self, data, description):
    user_data = data.get("UserData")
    if isinstance(user_data, str) and type(user_data) is str:
        data = dict(data, UserData=parse_user_data(user_data))
    return _create_version(self, data, description)


LaunchTemplate.create_version = create_version

from moto.ec2.models.nat_gateways import NatGatewayBackend  # noqa: E402

_delete_nat_gateway = NatGatewayBackend.delete_nat_gateway


def delete_nat_gateway(self, nat_gateway_id):
    gateway = _delete_nat_gateway(self, nat_gateway_id)
    for address in gateway.address_set:
        association = address.get("associationId")
        if association and any(a.association_id == association for a in self.addresses):
            self.disassociate_address(association_id=association)
    interface = getattr(gateway, "_eni", None)
    if interface is not None and interface.id in self.enis:
        self.delete_network_interface(interface.id)
    return gateway


NatGatewayBackend.delete_nat_gateway = delete_nat_gateway

from moto.server import main  # noqa: E402  (after the patch)

if __name__ == "__main__":
    sys.exit(main())
