#!/usr/bin/env python3
"""An in-kernel frame source: the kernel's test runner in live-frame mode
(BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, kernel 5.18 and later)
runs a small XDP program on copies of one frame and passes each copy up the
receive path of IFNAME, as if the interface's driver had received it: skb
built from the page, TC ingress (where the snooper's TCX program sits),
packet taps (its socket filter), then IP and UDP. All of it runs on the
calling CPU, in batches of 64 like a driver's NAPI poll, with no sender
process, socket, veth transmit or softirq hand-off in front of it. This is
how the snooper benchmark offers more frames per second than a user-space
sender on this VM can, and how it times the receive path per frame with
the kernel's own clock instead of CPU accounting.

The frame is read from FRAME_FILE (`snoop-bench frame`); its outer
destination MAC is replaced with IFNAME's own, so that the stack takes it
as addressed to this host, as it would a frame from the wire.

Without --vary-arp the XDP program is "r0 = XDP_PASS; exit": every frame
is the file's frame. With --vary-arp FIRST the frame must be ARP in VXLAN
over untagged IPv4 without options (what `snoop-bench frame --arp`
writes), and the program numbers each copy from FIRST on: binding n gets
sender MAC 02:xx:<n, 32 bits> (ARP and inner Ethernet source) and sender
IP 10.<n, low 24 bits>, so that every frame is a new binding for the
snooper. The counter lives in a one-slot array map; its final value says
how many copies the program made.

The frames go in one call, as fast as the CPU takes them: there is no
pacing, because each call sets up and tears down a page pool, which took
25–28 ms here, so calls small enough to pace by would measure that.
The kernel reports the call's average time per frame (its clock around
the batches, resched excluded).

usage: ip netns exec NS python3 bench/xdp_source.py IFNAME FRAME_FILE COUNT
           [--cpu C] [--vary-arp FIRST] [--other-host]
--other-host keeps the frame's destination MAC, so the stack drops each
frame at IP (not for this host) right after the hooks.
Prints one JSON line: frames, generated (with --vary-arp), seconds (wall
clock around the call), kernel-ns-per-frame.
"""

import argparse
import ctypes
import json
import os
import socket
import struct
import sys
import time

from bpfsys import (ADD64_IMM, AND64_IMM, BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM,
                    BPF_PROG_TEST_RUN, CALL, EXIT, JEQ_IMM, JGT_REG, LD_IMM64, LDX_DW, LDX_W, MOV64_IMM,
                    MOV64_REG, OR64_IMM, ST_W, STX_DW, STX_W, TO_BE, bpf, insn, load_program, map_element)

BPF_MAP_TYPE_ARRAY = 2
BPF_PROG_TYPE_XDP = 6
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1
BPF_PSEUDO_MAP_FD = 1
XDP_PASS = 2
NAME = b"bench_xdp_src"

# Where --vary-arp writes, in a frame of outer Ethernet (14), IPv4 (20),
# UDP (8), VXLAN (8), inner Ethernet (14) and ARP.
INNER_ETH = 50
INNER_SRC_LOW4 = INNER_ETH + 6 + 2  # the inner source MAC's last 4 bytes
ARP = INNER_ETH + 14
ARP_SHA_LOW4 = ARP + 8 + 2  # the sender MAC's last 4 bytes
ARP_SPA = ARP + 14
ARP_END = ARP + 28

MAP_LOOKUP_ELEM = 1  # the helper's number
R0, R1, R2, R3, R4, R5, R6, R7, R10 = 0, 1, 2, 3, 4, 5, 6, 7, 10


def pass_program():
    return insn(MOV64_IMM, R0, imm=XDP_PASS) + insn(EXIT)


def numbering_program(map_fd):
    """n = ++counter[0]; write n into the frame (see the module text);
    XDP_PASS. A frame too short for the writes passes unchanged."""
    body = [
        insn(MOV64_REG, R6, R1),                       # r6 = ctx
        insn(ST_W, R10, off=-4, imm=0),                # key 0 on the stack
        insn(MOV64_REG, R2, R10),
        insn(ADD64_IMM, R2, imm=-4),
        insn(LD_IMM64, R1, BPF_PSEUDO_MAP_FD, imm=map_fd), insn(0),
        insn(CALL, imm=MAP_LOOKUP_ELEM),
        "no slot: pass", insn(JEQ_IMM, R0, imm=0),
        insn(LDX_DW, R7, R0, 0),
        insn(ADD64_IMM, R7, imm=1),
        insn(STX_DW, R0, R7, 0),                       # one writer: the CPU running the calls
        insn(LDX_W, R2, R6, 0),                        # data
        insn(LDX_W, R3, R6, 4),                        # data_end
        insn(MOV64_REG, R4, R2),
        insn(ADD64_IMM, R4, imm=ARP_END),
        "too short: pass", insn(JGT_REG, R4, R3),
        insn(MOV64_REG, R5, R7),
        insn(TO_BE, R5, imm=32),
        insn(STX_W, R2, R5, ARP_SHA_LOW4),
        insn(STX_W, R2, R5, INNER_SRC_LOW4),
        insn(MOV64_REG, R5, R7),
        insn(AND64_IMM, R5, imm=0xFFFFFF),
        insn(OR64_IMM, R5, imm=0x0A000000),
        insn(TO_BE, R5, imm=32),
        insn(STX_W, R2, R5, ARP_SPA),
    ]
    # A string marks the jump after it as one to the XDP_PASS at the end.
    out, to_end = [], []
    for item in body:
        if isinstance(item, str):
            to_end.append(len(out))
        else:
            out.append(item)
    for at in to_end:
        code, regs, _, imm = struct.unpack("<BBhi", out[at])
        out[at] = struct.pack("<BBhi", code, regs, len(out) - at - 1, imm)
    return b"".join(out) + pass_program()


def counter_map(first):
    attr = struct.pack("<IIIII", BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0)
    fd = bpf(BPF_MAP_CREATE, attr)[0]
    # The program adds one before it writes: binding FIRST comes first.
    map_element(BPF_MAP_UPDATE_ELEM, fd, 0, first - 1)
    return fd


def run_live(prog_fd, frame, ifindex, repeat):
    """One live-frame call of `repeat` frames; returns the kernel's average
    ns per frame."""
    data = ctypes.create_string_buffer(frame, len(frame))
    # struct xdp_md: data, data_end, data_meta, ingress_ifindex,
    # rx_queue_index, egress_ifindex.
    md = struct.pack("<IIIIII", 0, len(frame), 0, ifindex, 0, 0)
    ctx = ctypes.create_string_buffer(md, len(md))
    # BPF_PROG_TEST_RUN: prog_fd, retval, data_size_in, data_size_out,
    # data_in, data_out, repeat, duration, ctx_size_in, ctx_size_out,
    # ctx_in, ctx_out, flags, cpu, batch_size (0: 64).
    attr = struct.pack("<IIIIQQIIIIQQIII", prog_fd, 0, len(frame), 0, ctypes.addressof(data), 0,
                       repeat, 0, len(md), 0, ctypes.addressof(ctx), 0, BPF_F_TEST_XDP_LIVE_FRAMES, 0, 0)
    _, out = bpf(BPF_PROG_TEST_RUN, attr)
    return struct.unpack_from("<I", out, 36)[0]


def own_mac(ifname):
    with open(f"/sys/class/net/{ifname}/address") as f:
        return bytes.fromhex(f.read().strip().replace(":", ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ifname")
    parser.add_argument("frame_file")
    parser.add_argument("count", type=int)
    parser.add_argument("--cpu", type=int)
    parser.add_argument("--vary-arp", type=int, metavar="FIRST")
    parser.add_argument("--other-host", action="store_true")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    ifindex = socket.if_nametoindex(args.ifname)
    with open(args.frame_file, "rb") as f:
        frame = bytearray(f.read())
    if not args.other_host:
        frame[0:6] = own_mac(args.ifname)
    counter = None
    if args.vary_arp is not None:
        if len(frame) < ARP_END or frame[12:14] != b"\x08\x00" or frame[14] != 0x45 \
                or frame[INNER_ETH + 12:INNER_ETH + 14] != b"\x08\x06":
            sys.exit("--vary-arp needs ARP in VXLAN over untagged IPv4 without options")
        counter = counter_map(args.vary_arp)
        prog = load_program(BPF_PROG_TYPE_XDP, numbering_program(counter), NAME)
    else:
        prog = load_program(BPF_PROG_TYPE_XDP, pass_program(), NAME)
    if not 0 < args.count < 2**32:
        sys.exit("COUNT is 1 to 2^32 - 1 (the kernel's repeat count)")
    start = time.perf_counter()
    ns_per_frame = run_live(prog, bytes(frame), ifindex, args.count)
    seconds = time.perf_counter() - start
    result = {"frames": args.count, "seconds": seconds, "kernel-ns-per-frame": ns_per_frame}
    if counter is not None:
        result["generated"] = map_element(BPF_MAP_LOOKUP_ELEM, counter, 0, 0) - (args.vary_arp - 1)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
