# Unit tests of no_open_database_ports.rego (`terrace test` runs every `test_…` rule of
# policies/*_test.rego), on the fixture plans of policies/fixtures/.
package terrace_test

import data.terrace

test_an_aws_security_group_open_to_the_internet_is_denied if {
	"networks/eu/aws-eu-west-1:database opens database port 5432 to 0.0.0.0/0" in terrace.deny with input as data.fixtures.open_database_port
}

test_a_gcp_firewall_open_to_the_internet_is_denied_for_the_database_ports_in_its_range if {
	denied := terrace.deny with input as data.fixtures.open_database_port
	"networks/eu/gcp-europe-west3:database opens database port 5432 to ::/0" in denied
	not "networks/eu/gcp-europe-west3:database opens database port 3306 to ::/0" in denied
	count(denied) == 2
}

test_ports_open_inside_the_group_and_web_ports_are_allowed if {
	count(terrace.deny) == 0 with input as data.fixtures.group_database_port
}

test_deleted_firewalls_are_not_checked if {
	plan := {"stacks": [{"name": "networks/eu/a", "changes": [{
		"name": "database", "type": "aws:ec2:SecurityGroup", "action": "delete",
		"before": {"ingress": [{"protocol": "-1", "cidr_blocks": ["0.0.0.0/0"]}]},
	}]}]}
	count(terrace.deny) == 0 with input as plan
}

test_values_known_only_after_apply_are_not_denied if {
	plan := {"stacks": [{"name": "networks/eu/a", "changes": [{
		"name": "database", "type": "gcp:compute:Firewall", "action": "create",
		"after": {"source_ranges": {"$unknown": "networks/eu/a: x"}, "allowed": [{"ip_protocol": "all"}]},
	}]}]}
	count(terrace.deny) == 0 with input as plan
}
