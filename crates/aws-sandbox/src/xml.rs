//! Small, exact operations on AWS's XML answers with a tokenizer (the `xmlparser` crate the AWS
//! SDK itself uses): the texts of elements of one name, and the removal of list entries
//! (`<item>` in EC2, `<member>` in the Query protocol) whose direct child names a given id.
//! Everything else of the document is kept byte for byte.

use std::collections::HashSet;
use xmlparser::{ElementEnd, Token, Tokenizer};

/// The tokens of a document, or of a fragment (several sibling elements, as cut out by
/// [`elements`]).
fn tokens(xml: &str) -> impl Iterator<Item = Token<'_>> {
    let tokenizer = if xml.trim_start().starts_with("<?xml") {
        Tokenizer::from(xml)
    } else {
        Tokenizer::from_fragment(xml, 0..xml.len())
    };
    tokenizer.flatten()
}

/// The trimmed texts of every element named `name`, in document order.
pub fn texts(xml: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut open: Vec<String> = Vec::new();
    for token in tokens(xml) {
        match token {
            Token::ElementStart { local, .. } => open.push(local.as_str().to_string()),
            Token::ElementEnd {
                end: ElementEnd::Close(..) | ElementEnd::Empty,
                ..
            } => {
                open.pop();
            }
            Token::Text { text } if open.last().is_some_and(|n| n == name) => {
                let text = text.as_str().trim();
                if !text.is_empty() {
                    out.push(unescape(text));
                }
            }
            _ => {}
        }
    }
    out
}

/// The raw content of every outermost element named `name` (an element of that name inside
/// another one is part of the outer one's content).
pub fn elements<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    content_ranges(xml, name)
        .into_iter()
        .map(|range| &xml[range])
        .collect()
}

/// The document with the content of every outermost element named `name` replaced by what
/// `replace` answers for it (`None` keeps it); an empty element (`<name/>`) is left alone.
pub fn replace_contents(
    xml: &str,
    name: &str,
    mut replace: impl FnMut(&str) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut at = 0;
    for range in content_ranges(xml, name) {
        if let Some(new) = replace(&xml[range.clone()]) {
            out.push_str(&xml[at..range.start]);
            out.push_str(&new);
            at = range.end;
        }
    }
    out.push_str(&xml[at..]);
    out
}

/// The byte ranges of the contents of the outermost elements named `name`, in order.
fn content_ranges(xml: &str, name: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = None;
    let mut open: Vec<String> = Vec::new();
    for token in tokens(xml) {
        match token {
            Token::ElementStart { local, .. } => open.push(local.as_str().to_string()),
            Token::ElementEnd {
                end: ElementEnd::Open,
                span,
            } if open.last().is_some_and(|n| n == name) => {
                if depth == 0 {
                    start = Some(span.end());
                }
                depth += 1;
            }
            Token::ElementEnd {
                end: ElementEnd::Close(_, local),
                span,
            } => {
                open.pop();
                if local.as_str() == name && depth > 0 {
                    depth -= 1;
                    if depth == 0 {
                        if let Some(from) = start.take() {
                            out.push(from..span.start());
                        }
                    }
                }
            }
            Token::ElementEnd {
                end: ElementEnd::Empty,
                ..
            } => {
                open.pop();
            }
            _ => {}
        }
    }
    out
}

/// Every non-empty element text of the document, trimmed.
pub fn all_texts(xml: &str) -> Vec<String> {
    Tokenizer::from(xml)
        .flatten()
        .filter_map(|token| match token {
            Token::Text { text } => {
                let text = text.as_str().trim();
                (!text.is_empty()).then(|| unescape(text))
            }
            _ => None,
        })
        .collect()
}

struct Frame {
    name: String,
    start: usize,
    text: String,
    /// Texts of direct children whose name ends in `Id` or `Arn` (ids, not tag values).
    child_ids: Vec<String>,
}

/// The document without the `<item>`/`<member>` entries one of whose direct id children
/// (`vpcId`, `LoadBalancerArn`, …) has a text in `hidden`, and how many entries were removed.
pub fn without_entries(xml: &str, hidden: &HashSet<String>) -> (String, usize) {
    let mut frames: Vec<Frame> = Vec::new();
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    for token in tokens(xml) {
        match token {
            Token::ElementStart { local, span, .. } => frames.push(Frame {
                name: local.as_str().to_string(),
                start: span.start(),
                text: String::new(),
                child_ids: Vec::new(),
            }),
            Token::Text { text } => {
                if let Some(frame) = frames.last_mut() {
                    frame.text.push_str(text.as_str());
                }
            }
            Token::ElementEnd {
                end: ElementEnd::Close(..) | ElementEnd::Empty,
                span,
            } => {
                let Some(frame) = frames.pop() else { continue };
                let entry = frame.name == "item" || frame.name == "member";
                if entry && frame.child_ids.iter().any(|t| hidden.contains(t)) {
                    cuts.push((frame.start, span.end()));
                }
                let names_id = frame.name.ends_with("Id") || frame.name.ends_with("Arn");
                if let (Some(parent), true) = (frames.last_mut(), names_id) {
                    parent.child_ids.push(unescape(frame.text.trim()));
                }
            }
            _ => {}
        }
    }
    cut(xml, cuts)
}

/// Removes byte ranges (an inner range inside a removed one is ignored).
fn cut(xml: &str, mut cuts: Vec<(usize, usize)>) -> (String, usize) {
    cuts.sort_unstable();
    let mut out = String::with_capacity(xml.len());
    let mut at = 0;
    let mut removed = 0;
    for (start, end) in cuts {
        if start < at {
            continue;
        }
        out.push_str(&xml[at..start]);
        at = end;
        removed += 1;
    }
    out.push_str(&xml[at..]);
    (out, removed)
}

/// The text of XML character data (the five predefined entities).
pub fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// `text` as XML character data.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const VPCS: &str = r#"<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
<requestId>r</requestId>
<vpcSet>
  <item><vpcId>vpc-1</vpcId><tagSet><item><key>k</key><value>vpc-2</value></item></tagSet></item>
  <item><vpcId>vpc-2</vpcId><cidrBlock>10.0.0.0/16</cidrBlock></item>
</vpcSet>
</DescribeVpcsResponse>"#;

    #[test]
    fn texts_are_read_by_element_name() {
        assert_eq!(texts(VPCS, "vpcId"), vec!["vpc-1", "vpc-2"]);
        assert!(all_texts(VPCS).contains(&"10.0.0.0/16".to_string()));
    }

    #[test]
    fn entries_naming_a_hidden_id_directly_are_removed() {
        let hidden: HashSet<String> = ["vpc-2".to_string()].into();
        let (out, removed) = without_entries(VPCS, &hidden);
        assert_eq!(removed, 1);
        // vpc-1 stays even though one of its tag values reads vpc-2 (not a direct child).
        assert_eq!(texts(&out, "vpcId"), vec!["vpc-1"]);
        assert!(out.contains("<value>vpc-2</value>"));
        assert!(out.starts_with("<DescribeVpcsResponse"));
        let (same, none) = without_entries(VPCS, &HashSet::new());
        assert_eq!((same.as_str(), none), (VPCS, 0));
    }

    #[test]
    fn outermost_elements_are_cut_out_whole() {
        let xml = "<R><Groups><member><Name>a</Name><Instances><member><Id>i-1</Id></member></Instances></member><member><Name>b</Name><Instances/></member></Groups></R>";
        let groups = elements(xml, "Groups");
        assert_eq!(groups.len(), 1);
        let members: Vec<&str> = elements(groups[0], "member");
        assert_eq!(members.len(), 2);
        assert_eq!(texts(members[0], "Id"), vec!["i-1"]);
        assert_eq!(texts(members[1], "Name"), vec!["b"]);
    }

    #[test]
    fn contents_are_replaced_in_place() {
        let xml = "<R><set><item><id>a</id></item><item><id>b</id></item></set><set/></R>";
        let out = replace_contents(xml, "item", |item| {
            (texts(item, "id") == ["b"]).then(|| "<id>b</id><x>1</x>".to_string())
        });
        assert_eq!(
            out,
            "<R><set><item><id>a</id></item><item><id>b</id><x>1</x></item></set><set/></R>"
        );
        assert_eq!(replace_contents(xml, "set", |_| None), xml);
    }

    #[test]
    fn query_protocol_members_are_removed() {
        let xml = "<R><Result><LoadBalancers><member><LoadBalancerArn>arn:a</LoadBalancerArn></member><member><LoadBalancerArn>arn:b</LoadBalancerArn></member></LoadBalancers></Result></R>";
        let hidden: HashSet<String> = ["arn:a".to_string()].into();
        let (out, removed) = without_entries(xml, &hidden);
        assert_eq!(removed, 1);
        assert_eq!(texts(&out, "LoadBalancerArn"), vec!["arn:b"]);
    }
}
