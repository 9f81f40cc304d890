"""`RequiredPlugin`: a plugin that must load first."""


class RequiredPlugin:
    def __init__(self, module=None, plugin=None):
        self.module = module
        self.plugin = plugin
