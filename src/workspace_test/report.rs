//! Results of `terrace test`: per file, per test, the failures with the expected and the actual
//! value and where the value came from; and the same as JUnit XML for CI (the Jenkins /
//! Ant format: `testsuites` › `testsuite` per file › `testcase` per test, `failure`).

use crate::diagnostics::Location;
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;
use serde::{Serialize, Serializer};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// One way a test failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The expectation that failed (test file, line, column).
    pub at: Location,
    /// What was expected, or what went wrong.
    pub message: String,
    /// The expected value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The value found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// Where the value came from: a template file and line, with the rendered line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Location>,
}

impl Failure {
    /// A failure with a message only.
    pub fn new(at: Location, message: impl Into<String>) -> Failure {
        Failure {
            at,
            message: message.into(),
            expected: None,
            actual: None,
            source: None,
        }
    }

    /// Adds the expected and the actual value.
    pub fn values(mut self, expected: impl Into<String>, actual: impl Into<String>) -> Failure {
        self.expected = Some(expected.into());
        self.actual = Some(actual.into());
        self
    }

    /// Adds where the value came from.
    pub fn source(mut self, source: Option<Location>) -> Failure {
        self.source = source;
        self
    }
}

impl fmt::Display for Failure {
    /// `file:line:col: message`, then `expected:`, `actual:` and `from:` lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)?;
        if let Some(expected) = &self.expected {
            write!(f, "\n  expected: {expected}")?;
        }
        if let Some(actual) = &self.actual {
            write!(f, "\n  actual:   {actual}")?;
        }
        if let Some(source) = &self.source {
            write!(f, "\n  from:     {source}")?;
            if let Some(snippet) = &source.snippet {
                write!(f, "\n            | {}", snippet.trim())?;
            }
        }
        Ok(())
    }
}

fn millis<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
}

/// One test (or one `test_…` rule of a policy test file).
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    /// Its name.
    pub name: String,
    /// Where it is written.
    pub at: Location,
    /// How long it took, in milliseconds in JSON.
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// Why it failed; empty when it passed.
    pub failures: Vec<Failure>,
}

impl TestReport {
    /// True when it passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The tests of one file.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    /// The test file, relative to the workspace root.
    pub file: PathBuf,
    /// Its tests, in order.
    pub tests: Vec<TestReport>,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Per file.
    pub suites: Vec<SuiteReport>,
    /// Wall time of the run, in milliseconds in JSON.
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
}

impl Report {
    /// A report of these suites, counted.
    pub fn new(suites: Vec<SuiteReport>, duration: Duration) -> Report {
        let all = || suites.iter().flat_map(|s| &s.tests);
        let passed = all().filter(|t| t.passed()).count();
        let failed = all().count() - passed;
        Report {
            suites,
            duration,
            passed,
            failed,
        }
    }

    /// The report as JUnit XML.
    pub fn junit_xml(&self) -> String {
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        self.write_junit(&mut writer)
            .expect("writing XML to memory cannot fail");
        String::from_utf8(writer.into_inner()).expect("the XML is UTF-8")
    }

    fn write_junit(&self, writer: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
        writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        let tests = (self.passed + self.failed).to_string();
        let failures = self.failed.to_string();
        writer
            .create_element("testsuites")
            .with_attribute(("name", "terrace test"))
            .with_attribute(("tests", tests.as_str()))
            .with_attribute(("failures", failures.as_str()))
            .with_attribute(("errors", "0"))
            .with_attribute(("time", seconds(self.duration).as_str()))
            .write_inner_content(|w| self.suites.iter().try_for_each(|s| write_suite(w, s)))?;
        Ok(())
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

/// XML 1.0 cannot hold most control characters, even escaped.
fn xml_text(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        .collect()
}

fn write_suite(writer: &mut Writer<Vec<u8>>, suite: &SuiteReport) -> std::io::Result<()> {
    let file = xml_text(&suite.file.display().to_string());
    let failed = suite.tests.iter().filter(|t| !t.passed()).count();
    let time: Duration = suite.tests.iter().map(|t| t.duration).sum();
    writer
        .create_element("testsuite")
        .with_attribute(("name", file.as_str()))
        .with_attribute(("tests", suite.tests.len().to_string().as_str()))
        .with_attribute(("failures", failed.to_string().as_str()))
        .with_attribute(("errors", "0"))
        .with_attribute(("skipped", "0"))
        .with_attribute(("time", seconds(time).as_str()))
        .write_inner_content(|w| {
            suite
                .tests
                .iter()
                .try_for_each(|test| write_case(w, &file, test))
        })?;
    Ok(())
}

fn write_case(writer: &mut Writer<Vec<u8>>, file: &str, test: &TestReport) -> std::io::Result<()> {
    let name = xml_text(&test.name);
    let case = writer
        .create_element("testcase")
        .with_attribute(("name", name.as_str()))
        .with_attribute(("classname", file))
        .with_attribute(("time", seconds(test.duration).as_str()));
    if test.passed() {
        case.write_empty()?;
        return Ok(());
    }
    case.write_inner_content(|w| {
        test.failures.iter().try_for_each(|failure| {
            let message = xml_text(&format!("{}: {}", failure.at, failure.message));
            let text = xml_text(&failure.to_string());
            w.create_element("failure")
                .with_attribute(("message", message.as_str()))
                .with_attribute(("type", "assertion"))
                .write_text_content(BytesText::new(&text))
                .map(|_| ())
        })
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_counts_and_escapes() {
        let failing = TestReport {
            name: "a <b> & \"c\"".into(),
            at: Location::at("t.yaml", 3, 5),
            duration: Duration::from_millis(12),
            failures: vec![
                Failure::new(Location::at("t.yaml", 7, 9), "x < y\u{1}").values("2", "3")
            ],
        };
        let passing = TestReport {
            name: "ok".into(),
            at: Location::at("t.yaml", 10, 5),
            duration: Duration::from_millis(3),
            failures: vec![],
        };
        let report = Report::new(
            vec![SuiteReport {
                file: "t.yaml".into(),
                tests: vec![failing, passing],
            }],
            Duration::from_millis(20),
        );
        assert_eq!((report.passed, report.failed), (1, 1));
        let xml = report.junit_xml();
        assert!(
            xml.contains(r#"<testsuites name="terrace test" tests="2" failures="1""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"name="a &lt;b&gt; &amp; &quot;c&quot;""#),
            "{xml}"
        );
        assert!(xml.contains("x &lt; y"), "{xml}");
        assert!(!xml.contains('\u{1}'));
        assert!(
            xml.contains(r#"<testcase name="ok" classname="t.yaml" time="0.003"/>"#),
            "{xml}"
        );
    }
}
