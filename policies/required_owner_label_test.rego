# Unit tests of required_owner_label.rego.
package terrace_test

import data.terrace

change(type, after) := {"stacks": [{"name": "networks/eu/a", "changes": [{
	"name": "vpc", "type": type, "action": "create", "after": after,
}]}]}

test_tags_without_an_owner_are_denied if {
	"networks/eu/a:vpc (aws:ec2:Vpc) has tags without an `owner` entry" in terrace.deny with input as change("aws:ec2:Vpc", {"tags": {"Name": "x"}})
}

test_labels_with_an_owner_pass if {
	count(terrace.deny) == 0 with input as change("gcp:compute:Network", {"labels": {"owner": "db-platform"}})
}

test_tags_known_only_after_apply_pass if {
	count(terrace.deny) == 0 with input as change("aws:ec2:Vpc", {"tags": {"$unknown": "networks/eu/a: x"}})
}
