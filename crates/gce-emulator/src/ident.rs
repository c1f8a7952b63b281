//! Server-generated identity: numeric ids, operation names, fingerprints and timestamps,
//! each in the form Compute uses (19-digit ids as strings, `operation-<ms>-<hex>...` names,
//! 8-byte base64 fingerprints, RFC 3339 times with milliseconds and a Pacific offset).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc, Weekday};

/// SplitMix64: a stable mixing function, so ids derived from (seed, counter) never change
/// between Rust or crate versions and a restarted emulator continues without collisions.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 19-digit numeric id like Compute's `id` fields.
pub fn numeric_id(seed: u64, counter: u64) -> String {
    let n = mix64(seed ^ mix64(counter));
    // Keep it in [1e18, 1e19) so it always has 19 digits, as Compute's ids do.
    (1_000_000_000_000_000_000 + n % 9_000_000_000_000_000_000).to_string()
}

/// An operation name in Compute's shape: `operation-<epoch ms>-<13 hex>-<8 hex>-<8 hex>`.
pub fn operation_name(seed: u64, counter: u64, now: DateTime<Utc>) -> String {
    let a = mix64(seed ^ mix64(counter ^ 0xA5A5));
    let b = mix64(a);
    format!(
        "operation-{}-{:013x}-{:08x}-{:08x}",
        now.timestamp_millis(),
        a >> 12,
        b >> 32,
        b & 0xFFFF_FFFF
    )
}

/// FNV-1a over bytes: a stable 64-bit content hash for fingerprints.
pub fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// An 8-byte base64 fingerprint of some content, like Compute's `fingerprint` fields.
pub fn fingerprint(content: &str) -> String {
    base64(&fnv64(content.as_bytes()).to_be_bytes())
}

/// The label fingerprint: Compute's well-known value for no labels, a content hash otherwise.
pub fn label_fingerprint(labels: &serde_json::Map<String, serde_json::Value>) -> String {
    if labels.is_empty() {
        return "42WmSpB8rSM=".to_string();
    }
    let mut pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    fingerprint(&pairs.join(","))
}

/// URL-safe base64 with padding (`-` and `_`), as Google's JSON encodes `format: byte` fields
/// such as fingerprints; Google's own client decodes them with that alphabet.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes base64 in either alphabet, standard or URL-safe (padding optional); `None` on any
/// invalid character. Clients send fingerprints back in either form.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in s.trim_end_matches('=').bytes() {
        let c = match c {
            b'-' => b'+',
            b'_' => b'/',
            other => other,
        };
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = bits << 6 | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits & 0xFF) as u8);
        }
    }
    Some(out)
}

/// The n-th `weekday` of a month (n from 1).
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8)
        .unwrap_or_else(|| NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default())
}

/// The US Pacific offset at an instant: -07:00 during daylight saving time, else -08:00.
fn pacific_offset(at: DateTime<Utc>) -> FixedOffset {
    let year = at.year();
    // DST runs from 2am PST on the second Sunday of March (10:00 UTC) to 2am PDT on the
    // first Sunday of November (09:00 UTC).
    let start = nth_weekday(year, 3, Weekday::Sun, 2).and_hms_opt(10, 0, 0);
    let end = nth_weekday(year, 11, Weekday::Sun, 1).and_hms_opt(9, 0, 0);
    let naive = at.naive_utc();
    let dst = matches!((start, end), (Some(s), Some(e)) if naive >= s && naive < e);
    let hours = if dst { 7 } else { 8 };
    FixedOffset::west_opt(hours * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).unwrap())
}

/// A timestamp as Compute writes it: `2024-05-01T09:30:12.345-07:00`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    pacific_offset(at)
        .from_utc_datetime(&at.naive_utc())
        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

/// Current time as a Compute timestamp.
pub fn now_timestamp() -> String {
    timestamp(Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9vYmFy").unwrap(), b"foobar");
        assert!(base64_decode("*").is_none());
        // The URL-safe alphabet out, both alphabets in.
        assert_eq!(base64(&[0xfb, 0xff]), "-_8=");
        assert_eq!(base64_decode("-_8=").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(base64_decode("+/8=").unwrap(), vec![0xfb, 0xff]);
    }

    #[test]
    fn ids_have_nineteen_digits_and_differ() {
        let a = numeric_id(1, 1);
        let b = numeric_id(1, 2);
        assert_eq!(a.len(), 19);
        assert_ne!(a, b);
    }

    #[test]
    fn timestamps_use_pacific_offset() {
        let winter = Utc.with_ymd_and_hms(2024, 1, 15, 12, 0, 0).unwrap();
        let summer = Utc.with_ymd_and_hms(2024, 7, 15, 12, 0, 0).unwrap();
        assert_eq!(timestamp(winter), "2024-01-15T04:00:00.000-08:00");
        assert_eq!(timestamp(summer), "2024-07-15T05:00:00.000-07:00");
        assert!(chrono::DateTime::parse_from_rfc3339(&now_timestamp()).is_ok());
    }
}
