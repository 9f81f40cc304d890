"""Datastores."""

import enum


class DataStore(enum.Enum):
    Running = "running"
    Candidate = "candidate"
    State = "state"
