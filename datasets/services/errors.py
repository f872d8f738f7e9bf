class ServiceError(Exception):
    """A refusal a person can act on; the message says what to do."""

    def __init__(self, message: str, *, code: str = "invalid", field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


class Forbidden(ServiceError):
    """The user's role does not allow this action (API: 403)."""

    def __init__(self, message: str, *, code: str = "forbidden"):
        super().__init__(message, code=code)


class Conflict(ServiceError):
    """The object is not in a state that allows this action (API: 409)."""

    def __init__(self, message: str, *, code: str = "conflict"):
        super().__init__(message, code=code)
