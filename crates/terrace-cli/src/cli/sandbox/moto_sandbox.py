"""moto_server for the Terrace sandbox, with one moto 5.1 defect mended so that the sandbox is
never harsher than AWS.

CreateLaunchTemplateVersion keeps the version's UserData as a plain string, while
CreateLaunchTemplate wraps it as moto expects; an Auto Scaling group that launches an instance
from such a version then fails with an AssertionError (HTTP 500) in
moto/ec2/models/launch_templates.py. AWS accepts the same request ("CreateLaunchTemplateVersion",
EC2 API reference), so the version's UserData is wrapped here the way CreateLaunchTemplate
wraps it. Nothing else changes. Usage: python moto_sandbox.py [moto_server arguments]."""

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

from moto.server import main  # noqa: E402  (after the patch)

if __name__ == "__main__":
    sys.exit(main())
