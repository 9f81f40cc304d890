#!/usr/bin/env python3
"""Attaches a TC program that does nothing to an interface's ingress, at the
hook the snooper uses (TCX, kernel 6.6 and later), and keeps it there until
this process ends (the kernel detaches it when the link's file descriptor
closes). It is the floor for the data-plane overhead benchmark: the BPF
statistics of a program of two instructions, "r0 = -1 (TCX_NEXT); exit",
show what the hook and the statistics themselves cost per frame.

The program is named bench_empty_tc, which snoop-bench counts with the
snooper's programs. Loaded with the bpf(2) syscall directly (no ELF, no
bpffs): run it inside the interface's namespace.

usage: ip netns exec NS python3 bench/empty_tc.py IFNAME
Prints "attached <program id>" once attached, then waits for stdin to close.
"""

import ctypes
import os
import socket
import struct
import sys

SYS_BPF = 321  # x86_64
BPF_PROG_LOAD, BPF_LINK_CREATE, BPF_OBJ_GET_INFO_BY_FD = 5, 28, 15
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_TCX_INGRESS = 46
NAME = b"bench_empty_tc"

# mov64 r0, -1; exit
INSNS = struct.pack("<BBhi", 0xB7, 0, 0, -1) + struct.pack("<BBhi", 0x95, 0, 0, 0)

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, len(attr))
    fd = libc.syscall(SYS_BPF, cmd, buf, len(attr))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf({cmd}): {os.strerror(err)}")
    return fd, buf.raw


def load():
    insns = ctypes.create_string_buffer(INSNS, len(INSNS))
    license = ctypes.create_string_buffer(b"GPL")
    # union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, insns, license,
    # log_level, log_size, log_buf, kern_version, prog_flags, prog_name[16].
    attr = struct.pack("<IIQQIIQII16s", BPF_PROG_TYPE_SCHED_CLS, len(INSNS) // 8,
                       ctypes.addressof(insns), ctypes.addressof(license), 0, 0, 0, 0, 0, NAME)
    return bpf(BPF_PROG_LOAD, attr.ljust(128, b"\0"))[0]


def program_id(fd):
    info = ctypes.create_string_buffer(256)
    # BPF_OBJ_GET_INFO_BY_FD: bpf_fd, info_len, info (pointer).
    attr = struct.pack("<IIQ", fd, len(info), ctypes.addressof(info))
    bpf(BPF_OBJ_GET_INFO_BY_FD, attr.ljust(128, b"\0"))
    # struct bpf_prog_info: type (u32), id (u32), ...
    return struct.unpack_from("<II", info.raw)[1]


def attach(prog_fd, ifindex):
    # BPF_LINK_CREATE: prog_fd, target_ifindex, attach_type, flags, then the
    # tcx part (relative fd/id, expected revision) left zero: append.
    attr = struct.pack("<IIII", prog_fd, ifindex, BPF_TCX_INGRESS, 0)
    return bpf(BPF_LINK_CREATE, attr.ljust(128, b"\0"))[0]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    ifindex = socket.if_nametoindex(sys.argv[1])
    prog = load()
    link = attach(prog, ifindex)
    print(f"attached {program_id(prog)}", flush=True)
    sys.stdin.read()
    os.close(link)
    os.close(prog)


if __name__ == "__main__":
    main()
