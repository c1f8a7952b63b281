# Every resource that carries tags or labels names its owning team: an `owner` entry. (Terrace
# adds its own ownership tags — workspace, stack, resource — at creation; this is the human owner.)
package terrace

deny contains msg if {
	some stack in input.stacks
	some change in stack.changes
	change.action in {"create", "update", "replace"}
	some field in {"tags", "labels"}
	entries := change.after[field]
	is_object(entries)
	not entries["$unknown"] # known only after apply: nothing to check yet
	not entries.owner
	msg := sprintf("%s:%s (%s) has %s without an `owner` entry", [stack.name, change.name, change.type, field])
}
