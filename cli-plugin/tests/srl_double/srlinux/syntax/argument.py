"""One argument of a `Syntax`."""


class Argument:
    def __init__(self, kind, name, default, suggestions, help):
        self.kind = kind
        self.name = name
        self.default = default
        self.suggestions = suggestions
        self.help = help
