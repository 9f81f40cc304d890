"""The bpf(2) system call from Python (ctypes), for the bench helpers that
load a few hand-written instructions with no ELF, no libbpf and no bpffs:
bench/empty_tc.py and bench/xdp_source.py. x86_64 only (the syscall
number)."""

import ctypes
import os
import struct

SYS_BPF = 321  # x86_64
BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM = 0, 1, 2
BPF_PROG_LOAD, BPF_PROG_TEST_RUN, BPF_OBJ_GET_INFO_BY_FD, BPF_LINK_CREATE = 5, 10, 15, 28
# The kernel's union bpf_attr is larger than any command's part of it.
ATTR_SIZE = 128

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def bpf(cmd, attr):
    """Runs one command; returns its result (a file descriptor for most)
    and the attribute bytes as the kernel left them."""
    attr = attr.ljust(ATTR_SIZE, b"\0")
    buf = ctypes.create_string_buffer(attr, len(attr))
    ret = libc.syscall(SYS_BPF, cmd, buf, len(attr))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf({cmd}): {os.strerror(err)}")
    return ret, buf.raw


# Opcodes (class | mode or operation | size or source) the helpers use.
MOV64_IMM, MOV64_REG, ADD64_IMM, AND64_IMM, OR64_IMM = 0xB7, 0xBF, 0x07, 0x57, 0x47
TO_BE = 0xDC  # BPF_ALU | BPF_END | BPF_TO_BE; imm = width in bits
LDX_W, LDX_DW, STX_W, STX_DW, ST_W = 0x61, 0x79, 0x63, 0x7B, 0x62
JEQ_IMM, JGT_REG, CALL, EXIT, LD_IMM64 = 0x15, 0x2D, 0x85, 0x95, 0x18


def insn(code, dst=0, src=0, off=0, imm=0):
    """One instruction: opcode, registers, offset, immediate."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def map_element(cmd, fd, key, value):
    """BPF_MAP_LOOKUP_ELEM or BPF_MAP_UPDATE_ELEM (flags 0) on a map of
    u32 keys and u64 values; returns the value (read back for a lookup)."""
    key, val = ctypes.c_uint32(key), ctypes.c_uint64(value & (2**64 - 1))
    # map_fd, (padding), key, value, flags.
    attr = struct.pack("<IxxxxQQQ", fd, ctypes.addressof(key), ctypes.addressof(val), 0)
    bpf(cmd, attr)
    return val.value


def load_program(prog_type, insns, name):
    """Loads a GPL program named `name` (15 bytes at most); the verifier's
    log is in the error when it refuses."""
    code = ctypes.create_string_buffer(insns, len(insns))
    license = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(1 << 16)
    # BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level,
    # log_size, log_buf, kern_version, prog_flags, prog_name[16].
    attr = struct.pack("<IIQQIIQII16s", prog_type, len(insns) // 8, ctypes.addressof(code),
                       ctypes.addressof(license), 1, len(log), ctypes.addressof(log), 0, 0, name)
    try:
        return bpf(BPF_PROG_LOAD, attr)[0]
    except OSError as e:
        raise OSError(e.errno, f"{e.strerror}; verifier: {log.value.decode(errors='replace')}") from None
