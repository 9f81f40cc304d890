"""What the management server raises."""


class ServerError(Exception):
    pass
