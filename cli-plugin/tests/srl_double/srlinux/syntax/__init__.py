"""`Syntax`: a command and its arguments, built by chaining."""

from .argument import Argument


class Syntax:
    def __init__(self, name, help="", short_help="", help_epilogue=""):
        self.name = name
        self.help = help
        self.arguments = []

    def _add(self, kind, name, default, suggestions, help):
        self.arguments.append(Argument(kind, name, default, suggestions, help))
        return self

    def add_unnamed_argument(self, name, default=None, suggestions=None, help="", min_count=None, max_count=None):
        return self._add("unnamed", name, default, suggestions, help)

    def add_named_argument(self, name, default=None, suggestions=None, help="", value_checker=None):
        return self._add("named", name, default, suggestions, help)

    def add_boolean_argument(self, name, help=""):
        return self._add("boolean", name, False, None, help)

    def argument(self, name):
        for argument in self.arguments:
            if argument.name == name:
                return argument
        raise KeyError(f"{self.name} has no argument {name!r}")
