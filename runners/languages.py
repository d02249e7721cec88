"""The language table: one ``LanguageSpec`` row per language, run by one generic runner.

Adding a language is adding a row (and its packages to ``docker/packages.txt``), never a new
``run_<lang>()`` function.

Argument templates may hold ``{name}`` (``prog`` for the program, ``checker`` for a CUSTOM checker),
``{cls}`` (Java: the class the file is named after and run as), and, derived from the memory limit of
the step, ``{heap_mb}``, ``{stack_mb}`` and ``{stack_kb}`` (JVM ``-Xmx``/``-Xss``, V8's heap and stack).

Assertion tests of the languages without the Python boundary (``AssertionSpec``): the test code is
appended after the program (MultiPL-E / HumanEval-X style), the whole is compiled and run as one
program, and it passes only if it ran to its end: the harness of each language writes a per-run nonce
to fd 3, a pipe only the host reads, after the test code returned (see ``runners/harness/``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from . import c_family, equality

__all__ = ["ALIASES", "LANGUAGES", "AssertionSpec", "LanguageSpec", "TestKind", "entry_class", "resolve"]

TestKind = str  # "stdio" | "call" | "assertion"

HARNESS_DIR = Path(__file__).resolve().parent / "harness"


def _harness(name: str) -> str:
    return (HARNESS_DIR / name).read_text()


@dataclass(frozen=True)
class AssertionSpec:
    """How an assertion test is built: ``program + "\\n" + between + test + "\\n" + after``.

    Attributes:
        source_file: the combined file's name (default: the row's ``source_file``).
        between: inserted between the program and the test code (``@NONCE@`` is the run's nonce).
        after: appended after the test code.
        files: harness files written beside it, ``(name, template)``; templates may hold ``@NONCE@``,
            ``@CLASS@`` (the test's entry class) and ``@PACKAGE@`` (Go's package clause).
        compile_argv / run_argv: replace the row's commands for assertion tests.
        test_mode: ``(marker, argv)``: when the test code holds ``marker``, compile with ``argv`` instead
            (Rust: ``#[test]`` functions are built with ``rustc --test``).
        check: ``(program, test) ->`` why the program is refused (COMPILE_ERROR) before it is built
            (a redefined ``assert`` macro, its own ``equals``), or ``None``.
        compose: ``(program, test, nonce) -> source``, replacing ``between``/``after`` where the
            program must be kept from changing the test code (C, C++: ``runners/c_family.py``).
        stdin: the harness reads the run's nonce and then the test code from stdin (a pipe), so
            neither is in a file the program can read; the built source is the program alone.
        source_on_stdin: the interpreter reads the built source (program, test, nonce) from stdin
            and ``/box`` is left with ``files`` alone (harness files, which hold no secret: no
            ``@NONCE@`` there) for the run, after the syntax check: the whole is read before
            any of it runs (Ruby, Lua, PHP; Perl and Bash, which read as they run, through a reader).
            A row with an artifact keeps only the artifact in ``/box`` for the run, without this.
        split_mark: with ``stdin``, the test is built with the program after this marker (it is
            ``between``; TypeScript, whose test needs the program's types), and the runner cuts it out
            of the built file before the run.
    """

    source_file: str | None = None
    between: str = ""
    after: str = ""
    files: tuple[tuple[str, str], ...] = ()
    compile_argv: tuple[str, ...] | None = None
    run_argv: tuple[str, ...] | None = None
    test_mode: tuple[str, tuple[str, ...]] | None = None
    check: Callable[[str, str], str | None] | None = None
    compose: Callable[[str, str, str], str] | None = None
    stdin: bool = False
    source_on_stdin: bool = False
    split_mark: str = ""


@dataclass(frozen=True)
class LanguageSpec:
    """How to build and run programs of one language inside the runtime image.

    Attributes:
        name: the ``CodeTask.language`` users send (``aliases`` name the same row).
        source_file: file name the source is written to, under ``/box``.
        run_argv: command that runs the program (paths inside the container).
        compile_argv: command that builds (or, for interpreters, syntax-checks) it, run once per sample
            in ``/work``; ``None`` for none.
        artifact: file the compile step leaves in ``/work``; copied into the read-only ``/box``. ``None``
            with a ``compile_argv``: a check that leaves nothing.
        test_kinds: test kinds this language supports.
        fork_server: run in the pre-started Python interpreter (``zygote.py``) instead of exec.
        version_label: image label holding the toolchain version shown by ``ListLanguages``.
        assertion: how assertion tests are built (rows without the Python boundary).
        oom_markers: stderr text that means the runtime ran out of its heap (JVM, V8, ...): such an
            exit is MEMORY_LIMIT_EXCEEDED, not RUNTIME_ERROR.
        display: the name in the README's table and ``ListLanguages``' docs (e.g. "C#").
    """

    name: str
    source_file: str
    run_argv: tuple[str, ...]
    compile_argv: tuple[str, ...] | None = None
    artifact: str | None = None
    test_kinds: frozenset[TestKind] = frozenset({"stdio"})
    fork_server: bool = False
    version_label: str = ""
    aliases: tuple[str, ...] = ()
    assertion: AssertionSpec | None = None
    oom_markers: tuple[bytes, ...] = field(default=())


STDIO_ASSERT = frozenset({"stdio", "assertion"})
_WRAP = (("{name}_harness.c", _harness("wrap_main.c")),)
# C and C++ assertion tests: the program's macros undone, the test code out of reach of its overloads,
# and what cannot be undone refused (runners/c_family.py).
# Assertion builds trap where the optimizer would otherwise assume a path is never taken: C++'s end
# of a non-void function reached, and __builtin_unreachable() reached. Without it GCC -O2 deletes
# the test's asserts after a call that can only end that way: a wrong HumanEval-X CPP/39 (a loop
# that never counts, then no return) passed. A trap is SIGILL: a RUNTIME_ERROR. Rust's builds
# forbid `unsafe` (unreachable_unchecked, and every other way to the process's memory).
_UB_TRAPS_C = ("-fsanitize=unreachable", "-fsanitize-undefined-trap-on-error")
_UB_TRAPS_CXX = ("-fsanitize=return,unreachable", "-fsanitize-undefined-trap-on-error")
_C_CHECK = partial(c_family.refusal, cxx=False)
_C_COMPOSE = partial(c_family.compose, cxx=False)
_CXX_CHECK = partial(c_family.refusal, cxx=True)
_CXX_COMPOSE = partial(c_family.compose, cxx=True)
_JAVA = (
    "-XX:+UseSerialGC",
    "-XX:-UsePerfData",
    "-XX:TieredStopAtLevel=1",
    "-Xshare:auto",
    "-Xmx{heap_mb}m",
    "-Xss{stack_mb}m",
    "-ea",
)
_JAVAC = (
    "javac -J-Xmx512m -J-XX:+UseSerialGC -J-XX:-UsePerfData -J-XX:TieredStopAtLevel=1 "
    "-encoding UTF-8 -nowarn -d classes"
)
_JAR = "cd classes && /usr/bin/python3 -m zipfile -c ../{name}.jar *"
#: Where TypeScript's built program ends and its test code begins (``harness.js`` splits there).
_TS_TEST_MARK = '"@sandbox-test@";'


#: Read from stdin, PHP's CLI defines no STDIN/STDOUT/STDERR: prepended for programs that use them
#: (a file of its own, so a program's `declare(strict_types=1)` or `namespace` still comes first).
_PHP_STREAMS = (
    "<?php\nif (!\\defined('STDIN')) {\n    \\define('STDIN', \\fopen('php://stdin', 'r'));\n"
    "    \\define('STDOUT', \\fopen('php://stdout', 'w'));\n"
    "    \\define('STDERR', \\fopen('php://stderr', 'w'));\n}\n"
    # the test's assert() calls come here (_php_compose): they fail whatever the program did to the
    # ini settings, through ticks, error handlers or destructors, while the test ran
    "function sandbox_assert(mixed $assertion, \\Throwable|string|null $description = null): bool {\n"
    "    if ($assertion) {\n        return true;\n    }\n"
    "    if ($description instanceof \\Throwable) {\n        throw $description;\n    }\n"
    "    throw new \\AssertionError($description ?? 'assert() failed');\n}\n"
)
_PHP_ASSERT_CALL = re.compile(r"(?<![\w$>:\\])\\?assert\s*\(", re.I)  # PHP's names ignore case


def _refusing(pattern: str, flags: int, why: str) -> Callable[[str, str], str | None]:
    """A check refusing a program where ``pattern`` matches, saying ``why``."""
    found = re.compile(pattern, flags)

    def check(program: str, test: str) -> str | None:
        return f"refused: {why}" if found.search(program) else None

    return check


# The test runs in the program's file, so in its namespace and under its `use function` aliases:
# its unqualified `abs()` would be the program's `Foo\abs` (or alias).
_php_refusal = _refusing(
    r"^\s*(?:<\?php\s+)?(?:namespace\s+[\w\\]|use\s+(?:function|const)\b)",
    re.M | re.I,
    "a namespace or `use function`/`use const` in the program would change the test's calls",
)


def _php_compose(program: str, test: str, nonce: str) -> str:
    """PHP's built source: the program, then the test code in PHP mode (`?>\\n<?php` closes whatever
    the program left open: PHP mode, or HTML after a `?>`), its `assert(` calls made to the harness's
    ``sandbox_assert`` (see ``_PHP_STREAMS``)."""
    return program + "\n?>\n<?php\n" + _PHP_ASSERT_CALL.sub(r"\\sandbox_assert(", test) + "\n"


def _lua_compose(program: str, test: str, nonce: str) -> str:
    """Lua's built source (its ``after`` is empty: the end is written here).

    A first line of the program's own (before it runs) keeps the genuine globals, a copy of each
    library's fields and the string metatable in one local named from the nonce, and leaves the
    program a ``debug`` of ``traceback`` alone (``sethook``/``setlocal`` had rewritten the test's
    ``assertEquals`` arguments). After the program, everything kept is put back (a program's
    ``xpcall``, ``error``, ``pairs`` or a metatable on ``_G`` had made luaunit run no test, or pass
    every one), the test gets a fresh luaunit (``require('luaunit').assertEquals = function() end``
    was on the copy every later require returned) loaded by the genuine ``require`` from a
    ``package`` put back as it was, and runs in a block whose ``_ENV``, ``assert``, ``error``,
    ``require``, ``os``, ``pcall`` and ``type`` are the genuine ones. luaunit wraps os.exit when
    loaded: loaded first, so the status's wrapper wraps its wrapper and sees the test code's own call.
    """
    g = "sandbox_" + hashlib.blake2b(nonce.encode(), digest_size=6).hexdigest()
    keep = (
        f"local {g} = {{G = _G, assert = assert, error = error, require = require, pcall = pcall,"
        " type = type, next = next, os = os, exit = os.exit, getinfo = debug.getinfo,"
        " setmetatable = debug.setmetatable, basesetmt = setmetatable, sethook = debug.sethook,"
        " strmt = getmetatable(''),"
        " open = io.open, stdout = io.stdout, rawset = rawset, package = package,"
        " searchers = {table.unpack(package.searchers)}, path = package.path, cpath = package.cpath,"
        " globals = {}, libs = {}};"
        f" for k, v in next, _G do {g}.globals[k] = v end"
        " for _, name in ipairs({'string', 'table', 'math', 'io', 'os', 'coroutine', 'utf8'}) do"
        f" local t = {{}}; for k, v in next, _G[name] do t[k] = v end; {g}.libs[name] = t end"
        f" {g}.strfields = {{}}; for k, v in next, {g}.strmt do {g}.strfields[k] = v end"
        f" {g}.debug = {{traceback = debug.traceback}}; debug = {g}.debug; package.loaded.debug = debug;"
        f" setmetatable = function(t, mt) if mt ~= nil and rawget(mt, '__gc') ~= nil then"
        " error('__gc metatables are not available in assertion tests', 2) end"
        f" return {g}.basesetmt(t, mt) end; {g}.globals.setmetatable = setmetatable; "
    )
    program = program.removeprefix("\ufeff")
    if program.startswith("#"):  # a `#!` line is skipped only as the first line
        first, _, rest = program.partition("\n")
        head = first + "\n" + keep + rest
    else:
        head = keep + program
    between = (
        "\ndo\n"
        f"  local G = {g}\n"
        "  local P = G.package\n"
        "  G.setmetatable(G.G, nil)\n"
        "  for k, v in G.next, G.globals do G.rawset(G.G, k, v) end\n"
        "  G.rawset(G.G, 'debug', G.debug)\n"
        "  for name, t in G.next, G.libs do\n"
        "    local lib = G.globals[name]\n"
        "    G.setmetatable(lib, nil)\n"
        "    for k, v in G.next, t do G.rawset(lib, k, v) end\n"
        "  end\n"
        "  G.setmetatable(G.strmt, nil)\n"
        "  for k in G.next, G.strmt do G.rawset(G.strmt, k, nil) end\n"
        "  for k, v in G.next, G.strfields do G.rawset(G.strmt, k, v) end\n"
        "  G.setmetatable('', G.strmt)\n"
        "  G.sethook()\n"
        "  for _, t in G.next, {P, P.loaded, P.preload, P.searchers} do G.setmetatable(t, nil) end\n"
        "  G.rawset(P.loaded, 'luaunit', nil)\n"
        "  G.rawset(P.preload, 'luaunit', nil)\n"
        "  for i = 1, 16 do G.rawset(P.searchers, i, G.searchers[i]) end\n"
        "  G.rawset(P, 'path', G.path)\n"
        "  G.rawset(P, 'cpath', G.cpath)\n"
        "  G.rawset(G.os, 'exit', G.exit)\n"
        "  G.pcall(G.require, 'luaunit')\n"
        "  local real_exit, getinfo, open, stdout = G.os.exit, G.getinfo, G.open, G.stdout\n"
        "  G.done = function()\n"
        '    local status = open("/dev/fd/3", "w"); status:write("@NONCE@ ok\\n"); status:close()\n'
        "  end\n"
        "  G.rawset(G.os, 'exit', function(code, close)\n"
        '    if (code == nil or code == true or code == 0) and getinfo(2, "S").what == "main" then\n'
        "      stdout:flush(); G.done()\n"
        "    end\n"
        "    return real_exit(code, close)\n"
        "  end)\n"
        "end\n"
        f"do local _ENV = {g}.G; local assert, error, require, os, pcall, type = {g}.assert, {g}.error,"
        f" {g}.require, {g}.os, {g}.pcall, {g}.type\n"
    )
    return head + between.replace("@NONCE@", nonce) + test + f"\nend\n{g}.done()\n"


def _no_data_section(marker: str) -> Callable[[str, str], str | None]:
    """A check refusing a program with a data section: the test after it would never run, and with
    the source read from stdin the program's DATA handle would read the rest, test and nonce."""
    return _refusing(
        marker, re.M, "a data section (__END__/__DATA__) in the program: the test code would never run"
    )


# Perl's source from stdin, through an @INC hook that hands each part over once (`caller` shows a
# required file's name, not its text as it does for a string eval): the program as prog.pl, and
# then, once prog.pl has returned, the test (after the last _PERL_TEST_MARK) as test.pl, in the
# program's last package, with CORE::GLOBAL emptied and the Test:: modules the program loaded
# forgotten (a program's BEGIN { *CORE::GLOBAL::exit = sub {} } or Test::Deep::eq_deeply = sub { 1 }
# had bound the test to them), and @INC as it was before the program (a hook of the program's in
# front had served its own Test/Deep.pm, or read test.pl from ours). The hook hands out test.pl only
# then (a program calling it had read the test and the nonce). Braces doubled: argv parts are
# format()ted.
_PERL_TEST_MARK = "\n#@sandbox-test@\n"
_PERL_FROM_STDIN = (
    'my $s = do {{ local $/; <STDIN> }}; my $m = "\\n" . \'#@sandbox-test@\' . "\\n";'
    " my $at = rindex($s, $m); my $ready = 0;"
    " my ($p, $t) = $at < 0 ? ($s, '') : (substr($s, 0, $at), substr($s, $at + length $m)); undef $s;"
    " unshift @INC, sub {{ my $n = $_[1];"
    " if ($n eq 'prog.pl' && defined $p) {{ my $c = $p; undef $p; return \\$c }}"
    " if ($n eq 'test.pl' && $ready && defined $t) {{"
    ' my $k = "" . $main::sandbox_package; $k = "main" unless $k =~ /\\A\\w+(?:::\\w+)*\\z/;'
    ' my $c = "package $k;\\n#line 1 test.pl\\n" . $t; undef $t; return \\$c }}'
    " return }}; my @inc = @INC; require 'prog.pl'; %CORE::GLOBAL:: = (); @INC = @inc;"
    " delete @INC{{grep {{ m{{^Test/}} }} keys %INC}}; $ready = 1; require 'test.pl';"
)
_PERL_BETWEEN = ";$main::sandbox_package = __PACKAGE__;\n1;" + _PERL_TEST_MARK
_NODE = ("/usr/bin/node", "--max-old-space-size={heap_mb}", "--stack-size={stack_kb}")
_GO_ENV = (
    "/usr/bin/env",
    # GOPATH mode: no module resolution, so nothing to download (Go 1.19 has no -mod=off; GOPROXY=off
    # in case). Imports resolve in the image: the standard library and /usr/share/gocode (testify).
    "GO111MODULE=off",
    "GOPROXY=off",
    "GOPATH=/usr/share/gocode",
    "GOCACHE=/opt/gocache",
    "CGO_ENABLED=0",
    "GOTOOLCHAIN=local",
    "HOME=/tmp",
)
# One codegen unit: rustc -O's default 16 run as parallel LLVM threads, which a container's CPU quota
# (--cpus 1) throttles in bursts, and cost ~20% more CPU for a one-file program; no symbol table:
# less to link and write (panic messages and test names do not need it).
_RUSTC = (
    "/usr/bin/rustc",
    "--edition",
    "2021",
    "-O",
    "-C",
    "debuginfo=0",
    "-C",
    "codegen-units=1",
    "-C",
    "strip=symbols",
)
_RUST_CRATES = (
    "-L",
    "dependency=/opt/rust/deps",
    "--extern",
    "rand=/opt/rust/deps/librand.rlib",
    "--extern",
    "regex=/opt/rust/deps/libregex.rlib",
    "--extern",
    "md5=/opt/rust/deps/libmd5.rlib",
)
_RUST_WRAP = "gcc -c -O2 -o {name}_harness.o /box/{name}_harness.c && "
_MCS = ("/usr/bin/mcs", "-optimize+", "-d:DEBUG", "-r:System.Numerics", "-nowarn:0168,0219,0414")
_PHP = (
    "/usr/bin/php",
    "-d",
    "display_errors=stderr",
    "-d",
    "memory_limit=-1",
    "-d",
    "zend.assertions=1",
    "-d",
    "assert.exception=1",
)

LANGUAGE_ROWS: tuple[LanguageSpec, ...] = (
    LanguageSpec(
        name="python",
        source_file="{name}.py",
        run_argv=("/usr/bin/python3", "/box/{name}.py"),
        test_kinds=frozenset({"stdio", "call", "assertion"}),
        fork_server=True,
        version_label="sandbox.python.version",
        aliases=("python3", "py"),
    ),
    LanguageSpec(
        name="cpp",
        source_file="{name}.cpp",
        compile_argv=(
            "/usr/bin/g++",
            "-std=c++17",
            "-O2",
            "-pipe",
            "-o",
            "{name}",
            "/box/{name}.cpp",
            "-Wl,--as-needed",
            "-lcrypto",
        ),
        artifact="{name}",
        run_argv=("/box/{name}",),
        version_label="sandbox.gxx.version",
        aliases=("c++", "cc", "cxx"),
        test_kinds=STDIO_ASSERT,
        assertion=AssertionSpec(
            compose=_CXX_COMPOSE,
            files=_WRAP,
            compile_argv=(
                "/usr/bin/g++",
                "-std=c++17",
                "-O2",
                "-pipe",
                "-o",
                "{name}",
                "/box/{name}.cpp",
                *_UB_TRAPS_CXX,
                "-x",
                "c",
                "/box/{name}_harness.c",
                "-Wl,--wrap=main",
                "-Wl,--as-needed",
                "-lcrypto",
            ),
            check=_CXX_CHECK,
        ),
    ),
    LanguageSpec(
        name="c",
        source_file="{name}.c",
        compile_argv=("/usr/bin/gcc", "-std=c17", "-O2", "-pipe", "-o", "{name}", "/box/{name}.c", "-lm"),
        artifact="{name}",
        run_argv=("/box/{name}",),
        version_label="sandbox.gcc.version",
        test_kinds=STDIO_ASSERT,
        assertion=AssertionSpec(
            compose=_C_COMPOSE,
            files=_WRAP,
            compile_argv=(
                "/usr/bin/gcc",
                "-std=c17",
                "-O2",
                "-pipe",
                "-o",
                "{name}",
                "/box/{name}.c",
                "/box/{name}_harness.c",
                *_UB_TRAPS_C,
                "-Wl,--wrap=main",
                "-lm",
            ),
            check=_C_CHECK,
        ),
    ),
    LanguageSpec(
        name="java",
        source_file="{cls}.java",
        compile_argv=("/bin/sh", "-c", f"{_JAVAC} /box/{{cls}}.java && {_JAR}"),
        artifact="{name}.jar",
        run_argv=("/usr/bin/java", *_JAVA, "-cp", "/box/{name}.jar", "{cls}"),
        version_label="sandbox.java.version",
        test_kinds=STDIO_ASSERT,
        assertion=AssertionSpec(
            files=(("SandboxHarness.java", _harness("SandboxHarness.java")),),
            compile_argv=("/bin/sh", "-c", f"{_JAVAC} /box/{{cls}}.java /box/SandboxHarness.java && {_JAR}"),
            run_argv=("/usr/bin/java", *_JAVA, "-cp", "/box/{name}.jar", "SandboxHarness"),
            check=equality.java_refusal,
        ),
        oom_markers=(b"java.lang.OutOfMemoryError",),
    ),
    LanguageSpec(
        name="javascript",
        source_file="{name}.js",
        compile_argv=("/usr/bin/node", "--check", "/box/{name}.js"),
        run_argv=(*_NODE, "/box/{name}.js"),
        version_label="sandbox.node.version",
        aliases=("js", "node", "nodejs"),
        test_kinds=STDIO_ASSERT,
        assertion=AssertionSpec(
            files=(("{name}_harness.js", _harness("harness.js")),),
            run_argv=(*_NODE, "-r", "/box/{name}_harness.js", "/box/{name}.js"),
            stdin=True,
        ),
        oom_markers=(b"JavaScript heap out of memory",),
    ),
    LanguageSpec(
        name="typescript",
        source_file="{name}.ts",
        compile_argv=(
            "/usr/bin/node",
            "--max-old-space-size=768",
            "/usr/share/nodejs/typescript/lib/tsc.js",
            "--target",
            "es2022",
            "--module",
            "commonjs",
            "--lib",
            "es2022,dom",
            "--noEmitOnError",
            "--pretty",
            "false",
            "--skipLibCheck",
            "--outDir",
            ".",
            "/box/{name}.ts",
        ),
        artifact="{name}.js",
        run_argv=(*_NODE, "/box/{name}.js"),
        version_label="sandbox.tsc.version",
        aliases=("ts",),
        test_kinds=STDIO_ASSERT,
        assertion=AssertionSpec(
            between=f"{_TS_TEST_MARK}\n",
            files=(("{name}_harness.js", _harness("harness.js")),),
            run_argv=(*_NODE, "-r", "/box/{name}_harness.js", "/box/{name}.js"),
            stdin=True,
            split_mark=_TS_TEST_MARK,
        ),
        oom_markers=(b"JavaScript heap out of memory",),
    ),
    LanguageSpec(
        name="go",
        source_file="{name}.go",
        compile_argv=(*_GO_ENV, "/usr/bin/go", "build", "-o", "{name}", "/box/{name}.go"),
        artifact="{name}",
        run_argv=("/box/{name}",),
        version_label="sandbox.go.version",
        aliases=("golang",),
        test_kinds=STDIO_ASSERT,
        assertion=AssertionSpec(
            source_file="{name}_test.go",
            files=(("zz_sandbox_harness_test.go", _harness("zz_sandbox_harness_test.go")),),
            compile_argv=(
                *_GO_ENV,
                "/usr/bin/go",
                "test",
                "-c",
                "-o",
                "{name}",
                "/box/{name}_test.go",
                "/box/zz_sandbox_harness_test.go",
            ),
            run_argv=("/box/{name}", "-test.paniconexit0"),
        ),
        oom_markers=(b"runtime: out of memory",),
    ),
    LanguageSpec(
        name="rust",
        source_file="{name}.rs",
        compile_argv=(*_RUSTC, *_RUST_CRATES, "-o", "{name}", "/box/{name}.rs"),
        artifact="{name}",
        run_argv=("/box/{name}",),
        version_label="sandbox.rustc.version",
        aliases=("rs",),
        test_kinds=STDIO_ASSERT,
        assertion=AssertionSpec(
            files=_WRAP,
            compile_argv=(
                "/bin/sh",
                "-c",
                _RUST_WRAP
                + " ".join((*_RUSTC, *_RUST_CRATES))
                + " -F unsafe-code -C link-arg={name}_harness.o -C link-arg=-Wl,--wrap=main"
                " -o {name} /box/{name}.rs",
            ),
            test_mode=(
                "#[test]",
                (
                    "/bin/sh",
                    "-c",
                    _RUST_WRAP
                    + " ".join((*_RUSTC, *_RUST_CRATES))
                    + " --test -F unsafe-code -C link-arg={name}_harness.o -C link-arg=-Wl,--wrap=main"
                    " -o {name} /box/{name}.rs",
                ),
            ),
        ),
        oom_markers=(b"memory allocation of",),
    ),
    LanguageSpec(
        name="csharp",
        source_file="{name}.cs",
        compile_argv=(*_MCS, "-out:{name}.exe", "/box/{name}.cs"),
        artifact="{name}.exe",
        run_argv=("/usr/bin/mono", "/box/{name}.exe"),
        version_label="sandbox.mono.version",
        aliases=("cs", "c#"),
        test_kinds=STDIO_ASSERT,
        assertion=AssertionSpec(
            files=(("{name}_harness.cs", _harness("SandboxHarness.cs")),),
            compile_argv=(
                *_MCS,
                "-main:SandboxHarness",
                "-out:{name}.exe",
                "/box/{name}.cs",
                "/box/{name}_harness.cs",
            ),
            check=equality.csharp_refusal,
        ),
        oom_markers=(b"OutOfMemoryException",),
    ),
    LanguageSpec(
        name="php",
        source_file="{name}.php",
        compile_argv=("/usr/bin/php", "-n", "-l", "/box/{name}.php"),
        run_argv=(*_PHP, "/box/{name}.php"),
        version_label="sandbox.php.version",
        test_kinds=STDIO_ASSERT,
        assertion=AssertionSpec(
            # The test code runs in PHP mode whatever mode the program ended in (`?>` there had made
            # the test text output, never run), and the nonce is written by a statement after it, not
            # by an auto_append_file that a top-level `return` still reached. The test's assert()s
            # are the harness's (`ini_set('zend.assertions', 0)` had made them no-ops), and the nonce
            # is written only if assertions are still on.
            compose=_php_compose,
            check=_php_refusal,
            files=(("{name}_streams.php", _PHP_STREAMS),),
            after=(
                "?>\n<?php\n"
                "if (\\ini_get('zend.assertions') === '1' && \\ini_get('assert.active') === '1'"
                " && \\ini_get('assert.exception') === '1') {\n"
                "    \\file_put_contents('php://fd/3', \"@NONCE@ ok\\n\");\n"
                "} else {\n"
                "    \\file_put_contents('php://stderr', \"the program turned assertions off\\n\");\n"
                "}\n"
            ),
            run_argv=(*_PHP, "-d", "auto_prepend_file=/box/{name}_streams.php"),
            source_on_stdin=True,
        ),
    ),
    LanguageSpec(
        name="ruby",
        source_file="{name}.rb",
        compile_argv=("/usr/bin/ruby", "-c", "/box/{name}.rb"),
        run_argv=("/usr/bin/ruby", "/box/{name}.rb"),
        version_label="sandbox.ruby.version",
        aliases=("rb",),
        test_kinds=STDIO_ASSERT,
        assertion=AssertionSpec(
            run_argv=("/usr/bin/ruby", "-"),
            source_on_stdin=True,
            check=_no_data_section(r"^__END__\r?$"),
            # test/unit runs its tests in an at_exit hook, after this would have run: run them here.
            after=(
                "if defined?(Test::Unit::AutoRunner) && Test::Unit::AutoRunner.need_auto_run?\n"
                "  Test::Unit::AutoRunner.need_auto_run = false\n"
                "  exit(1) unless Test::Unit::AutoRunner.run\n"
                "end\n"
                'File.open("/dev/fd/3", "w") { |sandbox_status| sandbox_status.write("@NONCE@ ok\\n") }\n'
            ),
        ),
        oom_markers=(b"NoMemoryError",),
    ),
    LanguageSpec(
        name="bash",
        source_file="{name}.sh",
        compile_argv=("/bin/bash", "-n", "/box/{name}.sh"),
        run_argv=("/bin/bash", "/box/{name}.sh"),
        version_label="sandbox.bash.version",
        aliases=("sh", "shell"),
        test_kinds=STDIO_ASSERT,
        assertion=AssertionSpec(
            # Bash reads a script as it runs it: the source on stdin is read whole first, into no
            # variable (a command substitution), then eval'd.
            run_argv=("/bin/bash", "-c", 'eval "$(/bin/cat)"'),
            source_on_stdin=True,
            after="builtin printf '%s ok\\n' @NONCE@ >&3\n",
        ),
    ),
    LanguageSpec(
        name="perl",
        source_file="{name}.pl",
        compile_argv=("/usr/bin/perl", "-c", "/box/{name}.pl"),
        run_argv=("/usr/bin/perl", "/box/{name}.pl"),
        version_label="sandbox.perl.version",
        aliases=("pl",),
        test_kinds=STDIO_ASSERT,
        assertion=AssertionSpec(
            # Perl reads a script as it compiles it (a BEGIN block could read the rest of stdin), so
            # the source on stdin is read whole, into no variable the program could name, and then
            # required: `return` at its top level, like a die, skips the test's end.
            run_argv=("/usr/bin/perl", "-e", _PERL_FROM_STDIN),
            source_on_stdin=True,
            between=_PERL_BETWEEN,
            check=_no_data_section(r"^__(?:END|DATA)__\b"),
            after=(
                ";{ open(my $sandbox_status, '>&=', 3) or die \"status: $!\";"
                ' print {$sandbox_status} "@NONCE@ ok\\n"; close($sandbox_status) or die; }\n'
            ),
        ),
    ),
    LanguageSpec(
        name="lua",
        source_file="{name}.lua",
        compile_argv=("/usr/bin/luac5.4", "-p", "/box/{name}.lua"),
        run_argv=("/usr/bin/lua5.4", "/box/{name}.lua"),
        version_label="sandbox.lua.version",
        test_kinds=STDIO_ASSERT,
        assertion=AssertionSpec(
            run_argv=("/usr/bin/lua5.4", "-"),
            source_on_stdin=True,
            # luaunit's tests end with os.exit(lu.LuaUnit.run()) at the top level of the test code: a
            # successful exit from there (and only from there: not from a function the program defined)
            # counts as the end. See _lua_compose for how the test gets what the program cannot change.
            compose=_lua_compose,
            # (its end, after the test, is written by _lua_compose)
        ),
    ),
)

LANGUAGES: dict[str, LanguageSpec] = {spec.name: spec for spec in LANGUAGE_ROWS}
ALIASES: dict[str, str] = {alias: spec.name for spec in LANGUAGE_ROWS for alias in spec.aliases}


def resolve(name: str) -> LanguageSpec | None:
    """The row a language name or alias (any case) names, or None."""
    key = name.strip().lower()
    return LANGUAGES.get(ALIASES.get(key, key))


_PUBLIC_CLASS = re.compile(r"^public\s+(?:(?:final|abstract|strictfp)\s+)*class\s+([A-Za-z_]\w*)", re.M)
_ANY_PUBLIC_CLASS = re.compile(r"\bpublic\s+(?:(?:final|abstract|strictfp)\s+)*class\s+([A-Za-z_]\w*)")
_CLASS = re.compile(r"\bclass\s+([A-Za-z_]\w*)")
_MAIN = re.compile(r"\bstatic\s+(?:final\s+)?void\s+main\s*\(")


def entry_class(source: str) -> str:
    """Java: the class a source file must be named after, and run as.

    The top-level public class when there is one (Java requires the file to be named after it), else
    the class declaring ``static void main``, else ``Main``.
    """
    for pattern in (_PUBLIC_CLASS, _ANY_PUBLIC_CLASS):
        found = pattern.search(source)
        if found:
            return found.group(1)
    main = _MAIN.search(source)
    if main:
        # The innermost class whose body holds main (braces counted, good enough for real sources).
        best = ""
        for found in _CLASS.finditer(source[: main.start()]):
            open_at = source.find("{", found.end())
            if open_at < 0 or open_at > main.start():
                continue
            depth, i = 0, open_at
            while i < len(source):
                depth += {"{": 1, "}": -1}.get(source[i], 0)
                if depth == 0:
                    break
                i += 1
            if i > main.start():
                best = found.group(1)
        if best:
            return best
    return "Main"
