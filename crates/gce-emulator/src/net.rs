//! IPv4 CIDR arithmetic for subnetwork ranges, firewall ranges and address allocation.

use std::net::Ipv4Addr;

/// An IPv4 range `addr/prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: u32,
    pub prefix: u8,
}

/// Why a CIDR string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("is not a valid IPv4 CIDR range")]
    Malformed,
    #[error("has host bits set; the network address is {0}")]
    HostBits(String),
}

impl Cidr {
    /// Parses `a.b.c.d/n`; with `strict`, host bits must be zero.
    pub fn parse(s: &str, strict: bool) -> Result<Cidr, CidrError> {
        let (ip, prefix) = s.split_once('/').ok_or(CidrError::Malformed)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| CidrError::Malformed)?;
        if prefix.len() > 1 && prefix.starts_with('0') {
            return Err(CidrError::Malformed);
        }
        let prefix: u8 = prefix.parse().map_err(|_| CidrError::Malformed)?;
        if prefix > 32 {
            return Err(CidrError::Malformed);
        }
        let cidr = Cidr {
            addr: u32::from(ip),
            prefix,
        };
        if strict && cidr.addr & !cidr.mask() != 0 {
            let net = Cidr {
                addr: cidr.addr & cidr.mask(),
                prefix,
            };
            return Err(CidrError::HostBits(net.to_string()));
        }
        Ok(cidr)
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    /// First address of the range.
    pub fn first(&self) -> u32 {
        self.addr & self.mask()
    }

    /// Last address of the range.
    pub fn last(&self) -> u32 {
        self.first() | !self.mask()
    }

    /// Whether two ranges share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// Whether this range lies wholly inside `outer`.
    pub fn within(&self, outer: &Cidr) -> bool {
        outer.first() <= self.first() && self.last() <= outer.last()
    }

    /// The address at `offset` from the start of the range, if inside it.
    pub fn nth(&self, offset: u32) -> Option<Ipv4Addr> {
        self.first()
            .checked_add(offset)
            .filter(|a| *a <= self.last())
            .map(Ipv4Addr::from)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.prefix)
    }
}

/// Ranges Compute refuses for subnetworks: this-network, loopback, link-local, multicast,
/// and the reserved/broadcast block.
pub fn is_forbidden_subnet_range(c: &Cidr) -> bool {
    [
        "0.0.0.0/8",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
    ]
    .iter()
    .filter_map(|s| Cidr::parse(s, true).ok())
    .any(|bad| c.overlaps(&bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_compares() {
        let a = Cidr::parse("10.0.0.0/24", true).unwrap();
        let b = Cidr::parse("10.0.0.128/25", true).unwrap();
        let c = Cidr::parse("10.0.1.0/24", true).unwrap();
        assert!(a.overlaps(&b) && b.within(&a));
        assert!(!a.overlaps(&c));
        assert_eq!(a.nth(1).unwrap().to_string(), "10.0.0.1");
        assert_eq!(a.nth(256), None);
        assert!(matches!(
            Cidr::parse("10.0.0.1/24", true),
            Err(CidrError::HostBits(n)) if n == "10.0.0.0/24"
        ));
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/8", "x/8", "10.0.0.0/08"] {
            assert_eq!(Cidr::parse(bad, true), Err(CidrError::Malformed), "{bad}");
        }
        assert!(is_forbidden_subnet_range(
            &Cidr::parse("127.0.0.0/24", true).unwrap()
        ));
    }
}
