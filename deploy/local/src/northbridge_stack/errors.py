class StackError(RuntimeError):
    """A part of the local stack could not be fetched, started or stopped.

    The message is written for the person at the terminal: what failed, the tail of the
    log that says why, and what to do next. The CLI prints it without a traceback.
    """
