"""The shapes of test code the trusted side runs, and the test code that would check nothing.

After the test code itself, ``trusted.py`` runs what a runner would: the ``unittest.TestCase`` classes
it defined (``run_testcases``), pytest's module-level ``test*`` functions and ``Test*`` classes
(``run_test_functions``). Test code whose checks never run would pass every program, so it fails
instead: a coroutine or generator test, a ``check`` nothing calls, a never-awaited coroutine
(``unawaited``), a ``doctest.testmod()`` that only prints its failures (``doctest_fails_loudly``);
``assert (cond, "msg")`` is read as the ``assert cond, "msg"`` it was meant to be (``intended_asserts``).

``outcome`` is ``trusted._Outcome``: ``fail(kind, message)`` keeps the first failure, ``exception(exc)``
classifies one, ``lost()`` says whether the program is gone. Standard library only.
"""

import ast
import inspect
import sys
import types
import unittest
import warnings

__all__ = [
    "doctest_fails_loudly",
    "intended_asserts",
    "run_test_functions",
    "run_testcases",
    "unawaited",
    "uncalled_check",
]


def run_testcases(ns, ran, outcome):
    """Run the TestCase classes the test code defined (each once); failures name the test method."""
    for value in list(ns.values()):
        if (
            isinstance(value, type)
            and issubclass(value, unittest.TestCase)
            and value.__module__ == "__main__"
            and value not in ran
        ):
            ran.add(value)
            async_case = getattr(sys.modules.get("unittest.async_case"), "IsolatedAsyncioTestCase", None)
            if async_case is None or not issubclass(value, async_case):
                for name in unittest.defaultTestLoader.getTestCaseNames(value):
                    if never_runs(getattr(value, name, None)):
                        outcome.fail(
                            "error",
                            f"{value.__name__}.{name} never runs: a TestCase does not run "
                            "a coroutine or generator method (IsolatedAsyncioTestCase runs async ones)",
                        )
            result = unittest.TestResult()
            unittest.defaultTestLoader.loadTestsFromTestCase(value).run(result)
            for test, text in result.failures:
                sys.stderr.write(text)
                last = text.strip().splitlines()[-1] if text.strip() else ""
                outcome.fail("fail", f"FAIL: {test.id().removeprefix('__main__.')}: {last[:300]}")
            for test, text in result.errors:
                sys.stderr.write(text)
                last = text.strip().splitlines()[-1] if text.strip() else ""
                kind = "lost" if outcome.lost() else "error"
                outcome.fail(kind, f"ERROR: {test.id().removeprefix('__main__.')}: {last[:300]}")
            for test in result.unexpectedSuccesses:
                outcome.fail("fail", f"unexpected success: {test.id().removeprefix('__main__.')}")


def doctest_fails_loudly():
    """``doctest.testmod()``/``testfile()`` report failing examples and return: make failures raise."""
    import doctest

    def loud(run):
        def wrapper(*args, **kwargs):
            result = run(*args, **kwargs)
            if result.failed:
                raise AssertionError(f"doctest: {result.failed} of {result.attempted} examples failed")
            return result

        return wrapper

    doctest.testmod, doctest.testfile = loud(doctest.testmod), loud(doctest.testfile)


def intended_asserts(tree):
    """``assert (cond, "message")`` asserts a non-empty tuple, always true (every program would pass):
    it is read as the ``assert cond, "message"`` it was meant to be."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Tuple) and node.msg is None:
            items = node.test.elts
            if 1 <= len(items) <= 2 and not any(isinstance(x, ast.Starred) for x in items):
                node.test, node.msg = items[0], items[1] if len(items) == 2 else None
    return tree


def uncalled_check(tree):
    """HumanEval's test code without its ``check(entry_point)`` line: a top-level ``check`` that no code
    refers to (every program would pass)."""
    defined = any(
        isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "check" for n in tree.body
    )
    return defined and not any(
        isinstance(n, ast.Name) and n.id == "check" and isinstance(n.ctx, ast.Load) for n in ast.walk(tree)
    )


def never_runs(function):
    """A test that calling runs nothing of: a generator or (outside asyncio) a coroutine function."""
    return (
        inspect.isgeneratorfunction(function)
        or inspect.iscoroutinefunction(function)
        or inspect.isasyncgenfunction(function)
    )


def unawaited(log, outcome):
    """Fail on a coroutine the test code created and dropped (``check(add)`` of an ``async def check``):
    its checks never ran. Other warnings are shown as they would have been."""
    for w in log:
        if issubclass(w.category, RuntimeWarning) and "was never awaited" in str(w.message):
            outcome.fail("error", f"the test code's checks never ran: {w.message}")
        else:
            sys.stderr.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line))


def run_test_functions(ns, outcome):
    """pytest's shapes: module-level ``test*`` functions, and ``test*`` methods of ``Test*`` classes
    (each on a fresh instance, with ``setup_method``/``teardown_method``), as pytest collects them."""
    for name, value in list(ns.items()):
        if not name.startswith(("test", "Test")):
            continue
        if type(value) is types.FunctionType and value.__code__.co_filename == "<test>":
            run_test_function(name, value, outcome)
        elif (
            isinstance(value, type)
            and name.startswith("Test")
            and value.__module__ == "__main__"
            and not issubclass(value, unittest.TestCase)
        ):
            for attr in [a for a in dir(value) if a.startswith("test")]:
                if callable(getattr(value, attr, None)):
                    run_test_function(f"{name}.{attr}", None, outcome, cls=value, method=attr)


def run_test_function(name, function, outcome, cls=None, method=None):
    try:
        if cls is not None:
            instance = cls()  # a class pytest cannot instantiate fails here rather than passing
            function = getattr(instance, method)
            if hasattr(instance, "setup_method"):
                instance.setup_method(function)
        if inspect.iscoroutinefunction(function):
            import asyncio

            asyncio.run(function())  # as pytest's asyncio plugin would
        elif never_runs(function):
            raise TypeError("a yield-style test function never runs its checks")
        else:
            function()
        if cls is not None and hasattr(instance, "teardown_method"):
            instance.teardown_method(function)
    except BaseException as exc:
        first = outcome.first
        outcome.exception(exc)
        if first is None and outcome.first is not None:
            kind, message = outcome.first
            outcome.first = (kind, f"{name}: {message}")
