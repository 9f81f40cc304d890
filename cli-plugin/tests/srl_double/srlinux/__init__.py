"""Test double of SR Linux's `srlinux` package (see ../README.md)."""
