"""User-facing errors: one message that names the problem and the fix, no traceback wall."""


class MemgenError(Exception):
    """An input problem the user can fix. The CLI and workflow scripts print it as one message.

    Always phrase as: what is wrong (with the offending key/path/value) + how to fix it.
    """


def fail(problem: str, fix: str) -> "MemgenError":
    """Build a MemgenError whose message reads 'problem. Fix: fix'."""
    return MemgenError(f"{problem.rstrip('.')}. Fix: {fix}")
