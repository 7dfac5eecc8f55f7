//! VS/DR (direct routing, "gatewaying"): the IP packet is left as it is apart from the TTL
//! decrement (`ip_vs_dr_xmit`); only the Ethernet addresses change, so the frame reaches the
//! real server, which owns the VIP on a non-ARPing interface.

use super::{XformError, check_ttl, dec_ttl, ip_in};
use crate::wire::Frame;
use crate::wire::MacAddr;

/// Rewrites the Ethernet destination to the real server's MAC and the source to the
/// director's, decrements the TTL / hop limit and patches the IPv4 header checksum.
/// VLAN tags are kept. Returns [`XformError::TtlExpired`] (buffer untouched) at TTL ≤ 1.
pub fn dr_forward(
    frame: &mut [u8],
    f: &Frame,
    rs_mac: MacAddr,
    director_mac: MacAddr,
) -> Result<(), XformError> {
    let (ip, _) = ip_in(frame, f)?;
    let fam = ip.family();
    check_ttl(frame, f.l3_offset, fam)?;
    let macs = frame.get_mut(0..12).ok_or(XformError::Malformed)?;
    macs[..6].copy_from_slice(&rs_mac.0);
    macs[6..].copy_from_slice(&director_mac.0);
    dec_ttl(frame, f.l3_offset, fam)?;
    Ok(())
}
