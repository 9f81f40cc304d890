//! TCP MD5 signatures (RFC 2385) for a BGP session: the kernel signs and
//! checks every segment to and from the peer with a shared password.
//!
//! The option is set on the connecting socket before `connect` and on the
//! listening socket before `listen`, for the peer's address only.

use std::{io, net::IpAddr, os::fd::AsRawFd};

/// The longest key the kernel accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` from `<linux/tcp.h>`: a `sockaddr_storage` for the
/// peer, flags, prefix length, key length, interface index and the key.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefix_len: u8,
    key_len: u16,
    ifindex: i32,
    key: [u8; MAX_KEY_LEN],
}

/// Why a password cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Md5Error {
    /// Longer than the kernel allows.
    #[error("the TCP MD5 password is {len} bytes; at most {MAX_KEY_LEN} are allowed")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// The kernel refused (no `CONFIG_TCP_MD5SIG`, or a bad socket).
    #[error("cannot set TCP MD5 on the socket: {0}")]
    Kernel(#[source] io::Error),
}

/// Checks a password without touching a socket, for config validation.
pub fn check_password(password: &str) -> Result<(), Md5Error> {
    if password.len() > MAX_KEY_LEN {
        return Err(Md5Error::TooLong { len: password.len() });
    }
    Ok(())
}

/// Requires MD5 signatures with `password` on `socket` for segments to and
/// from `peer`.
pub fn set_password(socket: &impl AsRawFd, peer: IpAddr, password: &str) -> Result<(), Md5Error> {
    check_password(password)?;
    let mut option = TcpMd5Sig {
        addr: address_storage(peer),
        flags: 0,
        prefix_len: 0,
        key_len: u16::try_from(password.len()).map_err(|_| Md5Error::TooLong { len: password.len() })?,
        ifindex: 0,
        key: [0; MAX_KEY_LEN],
    };
    option.key[..password.len()].copy_from_slice(password.as_bytes());
    setsockopt_md5(socket.as_raw_fd(), &option).map_err(Md5Error::Kernel)
}

/// The bytes of a `sockaddr_storage`, aligned like one.
#[repr(C, align(8))]
struct StorageBytes([u8; std::mem::size_of::<libc::sockaddr_storage>()]);

/// `peer` as a `sockaddr_in` or `sockaddr_in6` inside a `sockaddr_storage`.
/// The port stays 0: the key applies to every port of the peer.
fn address_storage(peer: IpAddr) -> libc::sockaddr_storage {
    let mut bytes = StorageBytes([0; std::mem::size_of::<libc::sockaddr_storage>()]);
    let (family, at, octets): (i32, usize, &[u8]) = match &peer {
        IpAddr::V4(v4) => (libc::AF_INET, 4, &v4.octets()[..]),
        IpAddr::V6(v6) => (libc::AF_INET6, 8, &v6.octets()[..]),
    };
    bytes.0[..2].copy_from_slice(&u16::try_from(family).unwrap_or_default().to_ne_bytes());
    bytes.0[at..at + octets.len()].copy_from_slice(octets);
    bytes_to_storage(&bytes)
}

#[expect(unsafe_code, reason = "reinterpreting plain bytes as the C sockaddr_storage they lay out")]
fn bytes_to_storage(bytes: &StorageBytes) -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is a plain C struct of integers for which
    // every bit pattern is valid; StorageBytes has its exact size and at
    // least its alignment (8), and read_unaligned makes no alignment claim.
    unsafe { std::ptr::read_unaligned(std::ptr::from_ref(bytes).cast::<libc::sockaddr_storage>()) }
}

#[expect(unsafe_code, reason = "setsockopt(TCP_MD5SIG) has no safe wrapper in nix or std")]
fn setsockopt_md5(fd: std::os::fd::RawFd, option: &TcpMd5Sig) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<TcpMd5Sig>()).unwrap_or(libc::socklen_t::MAX);
    // SAFETY: `fd` is an open socket owned by the caller for the duration
    // of the call; `option` points to a fully initialized `TcpMd5Sig` whose
    // layout matches the kernel's `struct tcp_md5sig`, and `len` is its size.
    let rc = unsafe {
        libc::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_MD5SIG, std::ptr::from_ref(option).cast(), len)
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

#[cfg(test)]
mod tests {
    use super::{MAX_KEY_LEN, Md5Error, check_password, set_password};

    #[test]
    fn the_struct_matches_the_kernel_layout() {
        // 128 (sockaddr_storage) + 1 + 1 + 2 + 4 + 80.
        assert_eq!(std::mem::size_of::<super::TcpMd5Sig>(), 216);
    }

    #[test]
    fn passwords_longer_than_80_bytes_are_refused() {
        assert!(check_password(&"x".repeat(MAX_KEY_LEN)).is_ok());
        assert!(matches!(check_password(&"x".repeat(MAX_KEY_LEN + 1)), Err(Md5Error::TooLong { len: 81 })));
    }

    #[test]
    fn the_kernel_accepts_the_option_for_v4_and_v6_peers() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").expect("socket");
        set_password(&v4, "127.0.0.2".parse().expect("address"), "s3cret").expect("IPv4 peer");
        let v6 = std::net::TcpListener::bind("[::1]:0");
        if let Ok(v6) = v6 {
            set_password(&v6, "::1".parse().expect("address"), "s3cret").expect("IPv6 peer");
        }
    }
}
