//! The `AF_PACKET` socket of the socket-filter mode. std and nix offer no
//! way to bind one to an interface index, so these two calls go to libc.
#![allow(unsafe_code, reason = "socket(2) and bind(2) with a sockaddr_ll have no safe wrapper")]

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

/// A raw packet socket with protocol 0: it receives nothing until bound,
/// so a filter can be attached before the first frame arrives.
pub(crate) fn socket() -> io::Result<OwnedFd> {
    // SAFETY: plain system call with constant arguments; the result is
    // checked before it is used as a descriptor.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new, valid descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Binds the socket to every protocol (`ETH_P_ALL`) on one interface.
pub(crate) fn bind(socket: &OwnedFd, ifindex: u32) -> io::Result<()> {
    let protocol = u16::try_from(libc::ETH_P_ALL).unwrap_or(3).to_be();
    let address = libc::sockaddr_ll {
        sll_family: u16::try_from(libc::AF_PACKET).unwrap_or(17),
        sll_protocol: protocol,
        sll_ifindex: i32::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    let len = libc::socklen_t::try_from(size_of::<libc::sockaddr_ll>()).unwrap_or(20);
    // SAFETY: `socket` is an open descriptor we own; `address` is a fully
    // initialized sockaddr_ll and `len` is its size.
    let rc = unsafe { libc::bind(socket.as_raw_fd(), std::ptr::from_ref(&address).cast(), len) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}
