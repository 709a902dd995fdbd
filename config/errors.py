"""Domain errors that carry their own HTTP status and a Chinese message for users."""


class DomainError(Exception):
    def __init__(self, message: str, http_status: int = 400, **extra):
        super().__init__(message)
        self.message, self.http_status, self.extra = message, http_status, extra
