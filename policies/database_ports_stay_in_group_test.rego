# Unit tests of database_ports_stay_in_group.rego (`terrace test` runs every `test_…` rule of
# policies/*_test.rego).
package terrace_test

import data.terrace

groups := {
	"eu": {"cidr": "10.16.0.0/12", "replicas": {"aws-eu-west-1": "10.16.0.0/16", "gcp-europe-west3": "10.17.0.0/16"}},
	"us": {"cidr": "10.32.0.0/12", "replicas": {"aws-us-east-1": "10.32.0.0/16"}},
}

plan(group, type_name, after) := {"stacks": [{"name": sprintf("networks/%s/a", [group]), "group": group, "changes": [{
	"name": "database", "type": type_name, "action": "create", "after": after,
}]}]}

aws(cidr) := {"ingress": [{"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_blocks": [cidr]}]}

gcp(cidr) := {"direction": "INGRESS", "allowed": [{"ip_protocol": "tcp", "ports": ["5432"]}], "source_ranges": [cidr]}

test_the_groups_own_range_and_its_replicas_ranges_are_allowed if {
	count(terrace.deny) == 0 with input as plan("eu", "aws:ec2:SecurityGroup", aws("10.16.0.0/12")) with data.workspace.groups as groups
	count(terrace.deny) == 0 with input as plan("eu", "gcp:compute:Firewall", gcp("10.17.0.0/16")) with data.workspace.groups as groups
}

test_a_security_group_open_to_another_groups_replica_is_denied if {
	denied := terrace.deny with input as plan("eu", "aws:ec2:SecurityGroup", aws("10.32.0.0/16")) with data.workspace.groups as groups
	"networks/eu/a:database opens a database port to 10.32.0.0/16, which reaches group us (10.32.0.0/12)" in denied
}

test_a_firewall_wide_enough_to_hold_another_group_is_denied if {
	denied := terrace.deny with input as plan("us", "gcp:compute:Firewall", gcp("10.0.0.0/8")) with data.workspace.groups as groups
	"networks/us/a:database opens a database port to 10.0.0.0/8, which reaches group eu (10.16.0.0/12)" in denied
}

test_other_ports_may_reach_other_groups if {
	web := {"ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.32.0.0/16"]}]}
	count(terrace.deny) == 0 with input as plan("eu", "aws:ec2:SecurityGroup", web) with data.workspace.groups as groups
}
