"""Writes the official NDK v0.5.0 descriptors, as shipped in PyPI
srlinux-ndk==0.5.0, to stdout as one binary FileDescriptorSet.

Run by wire_compat.rs with the repo's venv (.venv, set up by
scripts/bootstrap.sh). Only the *_pb2 modules are imported: they hold the
descriptors and need protobuf alone, not grpcio.
"""

import importlib
import pkgutil
import sys

from google.protobuf import descriptor_pb2

import ndk

fds = descriptor_pb2.FileDescriptorSet()
for module in sorted(m.name for m in pkgutil.iter_modules(ndk.__path__)):
    if module.endswith("_pb2"):
        descriptor = importlib.import_module(f"ndk.{module}").DESCRIPTOR
        descriptor.CopyToProto(fds.file.add())
sys.stdout.buffer.write(fds.SerializeToString())
