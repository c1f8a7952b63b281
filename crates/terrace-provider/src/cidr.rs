//! CIDR blocks (`10.16.0.0/12`, `fd00::/8`): parsed with [`ipnet`], refused with a sentence
//! saying what is wrong — not an address, no prefix length, a prefix too long, or host bits
//! set (the clouds accept only the network address of a range).

use ipnet::IpNet;
use std::net::IpAddr;

/// What is wrong with a CIDR block, and what would fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong.
    pub message: String,
    /// What would fix it.
    pub help: String,
}

const EXAMPLE: &str = "write an address and a prefix length, e.g. 10.16.0.0/16";

/// Parses a CIDR block whose address is its network address.
pub fn parse(text: &str) -> Result<IpNet, Problem> {
    let problem = |message: String, help: &str| Problem {
        message,
        help: help.to_string(),
    };
    let Some((address, prefix)) = text.split_once('/') else {
        return Err(problem(
            format!("`{text}` is not a CIDR block: it has no prefix length (`/16`)"),
            EXAMPLE,
        ));
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return Err(problem(
            format!("`{text}` is not a CIDR block: `{address}` is not an IP address"),
            EXAMPLE,
        ));
    };
    let max = if address.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.parse::<u8>().ok().filter(|p| *p <= max);
    let Some(prefix) = prefix else {
        return Err(problem(
            format!("`{text}` is not a CIDR block: the prefix length must be 0 to {max}"),
            EXAMPLE,
        ));
    };
    let net = IpNet::new(address, prefix).expect("prefix checked above");
    if net.trunc() != net {
        return Err(Problem {
            message: format!(
                "`{text}` is not a network address: the range's network is {}",
                net.trunc()
            ),
            help: format!("write `{}`", net.trunc()),
        });
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_malformed_block_is_named() {
        assert_eq!(parse("10.16.0.0/12").unwrap().to_string(), "10.16.0.0/12");
        assert!(parse("fd00::/8").is_ok());
        let message = |t: &str| parse(t).unwrap_err().message;
        assert_eq!(
            message("banana"),
            "`banana` is not a CIDR block: it has no prefix length (`/16`)"
        );
        assert_eq!(
            message("10.17.0.300/16"),
            "`10.17.0.300/16` is not a CIDR block: `10.17.0.300` is not an IP address"
        );
        assert_eq!(
            message("10.17.0.0/33"),
            "`10.17.0.0/33` is not a CIDR block: the prefix length must be 0 to 32"
        );
        assert_eq!(
            message("10.17.0.1/16"),
            "`10.17.0.1/16` is not a network address: the range's network is 10.17.0.0/16"
        );
    }
}
