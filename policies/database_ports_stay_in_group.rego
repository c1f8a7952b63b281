# Database ports are open inside a group only: no security group (AWS) or firewall (GCP) of a
# group's stack opens a database port to a range of another group — a range inside another
# group's `vars.cidr`, or one wide enough to hold it. The groups' ranges come from the group
# files (`data.workspace.groups`, src/policy/rego.rs). The replica mesh routes exactly the
# group's replicas to each other; this keeps the firewalls from reaching further.
package terrace

group_database_ports := {5432, 3306, 26257, 27017, 6379, 9042}

# The range of every other group than `group`.
other_group_ranges(group) := {[name, g.cidr] |
	some name, g in data.workspace.groups
	name != group
	is_string(g.cidr)
}

# True when `source` reaches into `range` (inside it, or holding it).
reaches(source, range) if net.cidr_contains(range, source)

reaches(source, range) if net.cidr_contains(source, range)

group_changes contains [stack, change] if {
	some stack in input.stacks
	some change in stack.changes
	change.action in {"create", "update", "replace"}
}

# Database-port sources of a change (empty for other types).
database_sources(change) := aws_database_sources(change) | gcp_database_sources(change)

# Database-port sources of an AWS security group change.
aws_database_sources(change) := {cidr |
	change.type == "aws:ec2:SecurityGroup"
	some rule in items(object.get(change.after, "ingress", []))
	is_object(rule)
	some port in group_database_ports
	aws_rule_covers(rule, port)
	some cidr in items(object.get(rule, "cidr_blocks", []))
	is_string(cidr)
}

# Database-port sources of a GCP ingress firewall change.
gcp_database_sources(change) := {cidr |
	change.type == "gcp:compute:Firewall"
	object.get(change.after, "direction", "INGRESS") == "INGRESS"
	some allowed in items(object.get(change.after, "allowed", []))
	is_object(allowed)
	some port in group_database_ports
	gcp_allows(allowed, port)
	some cidr in items(object.get(change.after, "source_ranges", []))
	is_string(cidr)
}

deny contains msg if {
	some [stack, change] in group_changes
	some cidr in database_sources(change)
	cidr != "0.0.0.0/0" # no_open_database_ports.rego refuses it
	not contains(cidr, ":")
	some [other, range] in other_group_ranges(stack.group)
	reaches(cidr, range)
	msg := sprintf("%s:%s opens a database port to %s, which reaches group %s (%s)", [stack.name, change.name, cidr, other, range])
}
