"""`coursebot validate FILE...` and `coursebot play FILE [--fast]`.

runner.py dispatches to these with the arguments after the sub-command. Both return an exit
code instead of calling sys.exit, and take their I/O as parameters so tests can drive them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from courses.llm import ChatModel, chat_model_for
from courses.loader import LoadResult, load_course_file
from courses.player import TerminalIO, TerminalPlayer


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    """argparse exits on bad arguments; we return its code instead (it printed the usage)."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2


def validate_main(argv: list[str], *, write: Callable[[str], None] = print) -> int:
    """Print every diagnostic as FILE:LINE: severity: ..., then a summary; 1 if any error."""
    parser = argparse.ArgumentParser(
        prog="coursebot validate", description="Check course YAML files and list every problem."
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    args = _parse(parser, argv)
    if isinstance(args, int):
        return args
    errors = warnings = 0
    for path in args.files:
        result = load_course_file(path)
        for diagnostic in result.diagnostics:
            write(str(diagnostic))
        errors += len(result.errors)
        warnings += len(result.warnings)
        if result.ok and result.course is not None:
            write(f"{path}: OK, {_plural(len(result.course.elements), 'element')}")
    verdict = "FAILED" if errors else "OK"
    write(
        f"{verdict}: {_plural(len(args.files), 'file')} checked, "
        f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    )
    return 1 if errors else 0


def play_main(
    argv: list[str],
    *,
    read: Callable[[str], str] = input,
    write: Callable[[str], None] = print,
    chat: ChatModel | None = None,
    chat_description: str = "dialogs are answered by the given chat model",
) -> int:
    """Play one course in the terminal; 1 if it does not load, 0 when played or input ends.
    Without `chat`, dialogs are answered by the offline stub."""
    parser = argparse.ArgumentParser(
        prog="coursebot play", description="Play a course in the terminal through the engine."
    )
    parser.add_argument("file", metavar="FILE")
    parser.add_argument(
        "--fast", action="store_true", help="skip delays at once instead of waiting for Enter"
    )
    args = _parse(parser, argv)
    if isinstance(args, int):
        return args
    result: LoadResult = load_course_file(args.file)
    if not result.ok or result.course is None:
        for diagnostic in result.errors:
            write(str(diagnostic))
        write(f"{args.file}: cannot play, {_plural(len(result.errors), 'error')}")
        return 1
    if chat is None:
        chat, chat_description = chat_model_for(None)
    notes = [f"Playing {args.file}", chat_description, "Ctrl-D quits"]
    if result.warnings:
        notes.append(f"{_plural(len(result.warnings), 'warning')}: see coursebot validate")
    write(f"({'; '.join(notes)})\n")
    player = TerminalPlayer(result.course, TerminalIO(read, write), chat, fast=args.fast)
    try:
        return player.run()
    except KeyboardInterrupt:
        write("\n(interrupted)")
        return 130
