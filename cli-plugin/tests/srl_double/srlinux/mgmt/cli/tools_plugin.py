"""`ToolsPlugin`: the base class of `/tools` command plugins."""


class ToolsPlugin:
    def get_required_plugins(self):
        return []

    def on_tools_load(self, state):
        raise NotImplementedError
