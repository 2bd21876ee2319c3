from caseline.errors import (  # noqa: F401  (re-exported for API modules)
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    body,
)
