"""`CliPlugin`, `ExecuteError`, `KeyCompleter`."""


class ExecuteError(Exception):
    """An error shown to the user as the command's result."""


class CliPlugin:
    def load(self, cli, **_kwargs):
        raise NotImplementedError


class KeyCompleter:
    """Suggests the keys of the list a path ends in, from a datastore."""

    def __init__(self, path, data_store=None, limit=None):
        self._path = path
        self._data_store = data_store

    def __call__(self, syntax_argument, state, arguments, partial_word, line):
        from srlinux.schema import DataStore

        path = self._path(arguments) if callable(self._path) else self._path
        return [k for k in state.keys_at(path, self._data_store or DataStore.Running) if k.startswith(partial_word)]
