//! What a layer's templates may read of the group: whether any of them can reach
//! `group.replicas`, the one part of a stack's context that grows with the group.
//!
//! Every stack of a group sees `group`; serialising all of its replicas into each stack's
//! context makes rendering a group of R replicas cost O(R²) (R stacks × R replicas), although
//! most layers read only `group.name` or `group.vars`. The check reads the tera tags
//! (`{{ … }}`, `{% … %}`) of the layer's templates and of every partial they could import:
//! `group` followed by `.` and a field other than `replicas` is a read that does not need the
//! list; any other use (`group.replicas`, `group[…]`, `group` passed whole to a macro or a
//! filter, `__tera_context`) keeps the whole group. It errs only towards keeping the list.

/// True when the templates may read `group.replicas` (see the module doc).
pub fn may_read_group_replicas<'a>(texts: impl IntoIterator<Item = &'a str>) -> bool {
    texts.into_iter().any(|text| tags(text).any(reads_replicas))
}

/// The inside of each `{{ … }}` and `{% … %}` tag of a template; comments `{# … #}` are not
/// read. An unterminated tag runs to the end of the text.
fn tags(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || loop {
        let start = rest.find('{')?;
        let after = &rest[start + 1..];
        let close = match after.chars().next() {
            Some('{') => "}}",
            Some('%') => "%}",
            Some('#') => {
                rest = after.find("#}").map_or("", |end| &after[end + 2..]);
                continue;
            }
            _ => {
                rest = after;
                continue;
            }
        };
        let inside = &after[1..];
        let end = inside.find(close).unwrap_or(inside.len());
        rest = &inside[(end + close.len()).min(inside.len())..];
        return Some(&inside[..end]);
    })
}

/// True when a tag's text uses `group` in a way that may reach its replicas.
fn reads_replicas(tag: &str) -> bool {
    if tag.contains("__tera_context") {
        return true;
    }
    let word = |c: char| c.is_alphanumeric() || c == '_';
    tag.match_indices("group").any(|(at, _)| {
        let before = tag[..at].chars().next_back();
        let after = &tag[at + "group".len()..];
        if before.is_some_and(|c| word(c) || c == '.') || after.starts_with(word) {
            return false; // part of another name, or a field of something else
        }
        match after.strip_prefix('.') {
            Some(field) => {
                let name: String = field.chars().take_while(|c| word(*c)).collect();
                name == "replicas" || name.is_empty()
            }
            None => true,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::may_read_group_replicas as reads;

    #[test]
    fn fields_other_than_replicas_do_not_need_the_list() {
        assert!(!reads(["name: {{ group.name }}-{{ group.vars.cidr }}"]));
        assert!(!reads(["{% if group.residency == \"EU\" %}x{% endif %}"]));
        assert!(!reads(["{{ stack.group }} {{ my_group }} {{ groups }}"]));
        assert!(!reads(["# the group's range\nplain: group.replicas"]));
        assert!(!reads(["{# {{ group.replicas }} #}"]));
    }

    #[test]
    fn any_other_use_keeps_the_list() {
        assert!(reads(["{% for r in group.replicas %}{% endfor %}"]));
        assert!(reads(["{{ group['replicas'] }}"]));
        assert!(reads(["{{ m::f(group=group) }}"]));
        assert!(reads(["{% set g = group %}"]));
        assert!(reads(["{{ group | json_encode }}"]));
        assert!(reads(["{{ __tera_context }}"]));
        assert!(reads(["a", "{{ group.replicas | length }}"]));
        assert!(reads(["{{ group.replicas"]));
    }
}
