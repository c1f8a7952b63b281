# Database ports are never open to the whole internet: no security group (AWS) or firewall
# (GCP) ingress from 0.0.0.0/0 or ::/0 that covers a database port.
package terrace

database_ports := {5432, 3306, 26257, 27017, 6379, 9042}

open_ranges := {"0.0.0.0/0", "::/0"}

# A value known only after apply is an object {"$unknown": ...}: treat it as absent.
items(value) := value if is_array(value)

items(value) := [] if not is_array(value)

changed contains [stack.name, change] if {
	some stack in input.stacks
	some change in stack.changes
	change.action in {"create", "update", "replace"}
}

deny contains msg if {
	some [stack, change] in changed
	change.type == "aws:ec2:SecurityGroup"
	some rule in items(object.get(change.after, "ingress", []))
	is_object(rule)
	some cidr in array.concat(items(object.get(rule, "cidr_blocks", [])), items(object.get(rule, "ipv6_cidr_blocks", [])))
	cidr in open_ranges
	some port in database_ports
	aws_rule_covers(rule, port)
	msg := sprintf("%s:%s opens database port %d to %s", [stack, change.name, port, cidr])
}

aws_rule_covers(rule, _) if rule.protocol in {"-1", "all"}

aws_rule_covers(rule, port) if {
	rule.from_port <= port
	port <= rule.to_port
}

deny contains msg if {
	some [stack, change] in changed
	change.type == "gcp:compute:Firewall"
	object.get(change.after, "direction", "INGRESS") == "INGRESS"
	some cidr in items(object.get(change.after, "source_ranges", []))
	cidr in open_ranges
	some allowed in items(object.get(change.after, "allowed", []))
	is_object(allowed)
	some port in database_ports
	gcp_allows(allowed, port)
	msg := sprintf("%s:%s opens database port %d to %s", [stack, change.name, port, cidr])
}

gcp_protocol(allowed) := object.get(allowed, "ip_protocol", object.get(allowed, "IPProtocol", ""))

gcp_allows(allowed, _) if gcp_protocol(allowed) == "all"

gcp_allows(allowed, _) if {
	gcp_protocol(allowed) == "tcp"
	not allowed.ports
}

gcp_allows(allowed, port) if {
	some range in items(object.get(allowed, "ports", []))
	is_string(range)
	bounds := split(range, "-")
	to_number(bounds[0]) <= port
	port <= to_number(bounds[count(bounds) - 1])
}
