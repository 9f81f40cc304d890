# Versions the scripts pin, in one place. Sourced, not run.
# The eBPF build (ebpf-arp-snoop/loader/build.rs) names the same nightly;
# a test checks the two agree.

# The nightly aya 0.14 is verified with (rustc 1.97, LLVM 22). A plain
# `nightly` would install whatever is newest and break reproducibility.
EBPF_NIGHTLY=nightly-2026-05-19
BPF_LINKER_VERSION=0.13.0
PYTEST_VERSION=9.2.0
CARGO_FUZZ_VERSION=0.13.2
# Packs the Debian package (scripts/build-deb.sh).
CARGO_DEB_VERSION=3.8.0
# The official NDK bindings the wire-compatibility test compares our protos
# with, and the protobuf runtime they were generated for (their pin).
SRLINUX_NDK_PY_VERSION=0.5.0
PROTOBUF_PY_VERSION=4.23.3
# containerlab topology validation (labs/*/tests) and YAML parsing in pytest.
JSONSCHEMA_PY_VERSION=4.26.0
PYYAML_PY_VERSION=6.0.3
MATPLOTLIB_PY_VERSION=3.11.2
