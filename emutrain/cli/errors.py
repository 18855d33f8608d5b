"""User errors on the command line: one line `error: ...` naming the flag, exit status 2.

A user error is a mistake in what the command asked for, found before any work is done: a flag absl or
ml_collections cannot parse (unknown, misspelled, a value of the wrong type), a config that does not
load or does not validate, a spec string that does not build, a missing file, a workdir another run
holds. Everything else is an internal error and keeps its traceback. A job stopped by Ctrl-C (a
`KeyboardInterrupt` outside training, which checkpoints and stops on its own) is one line
`interrupted: ...`, exit status 130.
"""

from __future__ import annotations

import re
import sys
import traceback

__all__ = ["EXIT_INTERRUPTED", "EXIT_USAGE", "UserError", "fail", "flag_message", "interrupted", "one_line"]

EXIT_USAGE = 2
"""The exit status of a user error (as argparse and most Unix tools)."""
EXIT_INTERRUPTED = 130
"""The exit status of a job stopped by Ctrl-C (128 + SIGINT, as shells report it)."""


class UserError(Exception):
    """A mistake in the command line; its message is the one line printed after `error: `."""


_PARSE_PREFIX = "Error whilst parsing config file:"


def one_line(error: BaseException) -> str:
    """The message of `error` on one line: a config file's traceback (ml_collections wraps errors of
    `get_config` in one) reduced to its last line, `config.<field>` named as the flag `--config.<field>`,
    line breaks and quotes around a whole message removed."""
    message: object = error
    while isinstance(message, BaseException) and len(message.args) == 1:  # KeyError inside AttributeError
        message = message.args[0]
    text = str(message)
    if _PARSE_PREFIX in text:  # the traceback of get_config: its last line is the error
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = re.sub(r"^\w+(Error|Exception): ", "", last.strip())
    text = re.sub(r"(?<![-.\w])config\.(?=\w)", "--config.", text)
    parts = [part.strip() for part in text.splitlines() if part.strip()]
    return "; ".join(_unquoted(part) for part in parts)


def _unquoted(text: str) -> str:
    """`text` without the quotes around it (a KeyError's message), if it is quoted as a whole."""
    quoted = len(text) > 1 and text[0] == text[-1] and text[0] in "'\"" and text[0] not in text[1:-1]
    return text[1:-1] if quoted else text


def flag_message(error: BaseException, argv: list[str]) -> str:
    """One line for an error raised while the flags were parsed. A misspelled field of `--config.a.b`
    (ml_collections' `KeyError`/`AttributeError` with a "Did you mean" suggestion) names the flag."""
    text = one_line(error)
    if _PARSE_PREFIX in str(error):  # get_config(variant) refused the variant, or failed
        return f"--config: {text}"
    if isinstance(error, (KeyError, AttributeError)):
        field = re.match(r"\W*(\w*)", text).group(1)
        flag = next(
            (arg.split("=", 1)[0] for arg in argv if arg.startswith("--config.")
             and field in arg.split("=", 1)[0].split(".")),
            "--config",
        )
        hint = re.search(r"did you mean.*", text, flags=re.IGNORECASE)
        return f"{flag}: the config has no field {field!r}" + (f"; d{hint.group(0)[1:]}" if hint else "")
    return text


def fail(message: str, *, verbose: bool = False) -> None:
    """Prints `error: message` on stderr (after the current exception's traceback when `verbose`) and
    exits with status 2."""
    if verbose and sys.exc_info()[1] is not None:
        traceback.print_exc()
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(EXIT_USAGE)


def interrupted(message: str, *, verbose: bool = False) -> None:
    """Prints `interrupted: message` on stderr (after the current exception's traceback when `verbose`)
    and exits with status 130."""
    if verbose and sys.exc_info()[1] is not None:
        traceback.print_exc()
    sys.stderr.write(f"interrupted: {message}\n")
    sys.stderr.flush()
    raise SystemExit(EXIT_INTERRUPTED)
