"""The language table: one ``LanguageSpec`` row per language, run by one generic runner.

Adding a language is adding a row (and its packages to ``docker/packages.txt``), never a new
``run_<lang>()`` function.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LANGUAGES", "LanguageSpec", "TestKind"]

TestKind = str  # "stdio" | "call" | "assertion"


@dataclass(frozen=True)
class LanguageSpec:
    """How to build and run programs of one language inside the runtime image.

    Attributes:
        name: the ``CodeTask.language`` users send.
        source_file: file name the source is written to, under ``/box``.
        run_argv: command that runs the program (paths inside the container).
        compile_argv: command that builds it, run once per sample in ``/work``; ``None`` for
            interpreted languages.
        artifact: file the compile step leaves in ``/work``; copied into the read-only ``/box``.

    Every string may hold ``{name}``: ``prog`` for the program, ``checker`` for a CUSTOM checker, so
    one row serves both.
        test_kinds: test kinds this language supports.
        fork_server: run in the pre-started Python interpreter (``zygote.py``) instead of exec.
        version_label: image label holding the toolchain version shown by ``ListLanguages``.
    """

    name: str
    source_file: str
    run_argv: tuple[str, ...]
    compile_argv: tuple[str, ...] | None = None
    artifact: str | None = None
    test_kinds: frozenset[TestKind] = frozenset({"stdio"})
    fork_server: bool = False
    version_label: str = ""


LANGUAGES: dict[str, LanguageSpec] = {
    spec.name: spec
    for spec in (
        LanguageSpec(
            name="python",
            source_file="{name}.py",
            run_argv=("/usr/bin/python3", "/box/{name}.py"),
            test_kinds=frozenset({"stdio", "call", "assertion"}),
            fork_server=True,
            version_label="sandbox.python.version",
        ),
        LanguageSpec(
            name="cpp",
            source_file="{name}.cpp",
            compile_argv=("/usr/bin/g++", "-std=c++17", "-O2", "-pipe", "-o", "{name}", "/box/{name}.cpp"),
            artifact="{name}",
            run_argv=("/box/{name}",),
            version_label="sandbox.gxx.version",
        ),
    )
}
