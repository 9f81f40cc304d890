"""`build_path`: a path object from its text, as the plugins pass it."""


class Path(str):
    """A schema path such as `/network-instance[name=blue]/protocols`."""


def build_path(path):
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"build_path wants an absolute path string, got {path!r}")
    return Path(path)
