"""What the tests that run a real agent share: where its binary is, and a
free loopback port."""

import pathlib
import socket

REPO = pathlib.Path(__file__).resolve().parent.parent.parent


def agent_binary():
    """The built agent (debug first), or None."""
    for profile in ("debug", "release"):
        path = REPO / "target" / profile / "static-vxlan-agent"
        if path.exists():
            return path
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
