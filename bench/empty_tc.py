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

from bpfsys import BPF_LINK_CREATE, BPF_OBJ_GET_INFO_BY_FD, EXIT, MOV64_IMM, bpf, insn, load_program

BPF_PROG_TYPE_SCHED_CLS = 3
BPF_TCX_INGRESS = 46
NAME = b"bench_empty_tc"


def load():
    # r0 = -1 (TCX_NEXT); exit
    return load_program(BPF_PROG_TYPE_SCHED_CLS, insn(MOV64_IMM, imm=-1) + insn(EXIT), NAME)


def program_id(fd):
    info = ctypes.create_string_buffer(256)
    # BPF_OBJ_GET_INFO_BY_FD: bpf_fd, info_len, info (pointer).
    attr = struct.pack("<IIQ", fd, len(info), ctypes.addressof(info))
    bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
    # struct bpf_prog_info: type (u32), id (u32), ...
    return struct.unpack_from("<II", info.raw)[1]


def attach(prog_fd, ifindex):
    # BPF_LINK_CREATE: prog_fd, target_ifindex, attach_type, flags, then the
    # tcx part (relative fd/id, expected revision) left zero: append.
    attr = struct.pack("<IIII", prog_fd, ifindex, BPF_TCX_INGRESS, 0)
    return bpf(BPF_LINK_CREATE, attr)[0]


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
