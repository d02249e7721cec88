from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KIND_UNSPECIFIED: _ClassVar[Kind]
    EXACT: _ClassVar[Kind]
    LINES: _ClassVar[Kind]
    TOKENS: _ClassVar[Kind]
    FLOAT: _ClassVar[Kind]
    CUSTOM: _ClassVar[Kind]

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    ACCEPTED: _ClassVar[Verdict]
    WRONG_ANSWER: _ClassVar[Verdict]
    TIME_LIMIT_EXCEEDED: _ClassVar[Verdict]
    MEMORY_LIMIT_EXCEEDED: _ClassVar[Verdict]
    OUTPUT_LIMIT_EXCEEDED: _ClassVar[Verdict]
    RUNTIME_ERROR: _ClassVar[Verdict]
    COMPILE_ERROR: _ClassVar[Verdict]
    SKIPPED: _ClassVar[Verdict]
    SANDBOX_ERROR: _ClassVar[Verdict]
KIND_UNSPECIFIED: Kind
EXACT: Kind
LINES: Kind
TOKENS: Kind
FLOAT: Kind
CUSTOM: Kind
VERDICT_UNSPECIFIED: Verdict
ACCEPTED: Verdict
WRONG_ANSWER: Verdict
TIME_LIMIT_EXCEEDED: Verdict
MEMORY_LIMIT_EXCEEDED: Verdict
OUTPUT_LIMIT_EXCEEDED: Verdict
RUNTIME_ERROR: Verdict
COMPILE_ERROR: Verdict
SKIPPED: Verdict
SANDBOX_ERROR: Verdict

class ScoreRequest(_message.Message):
    __slots__ = ("id", "code", "math")
    ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MATH_FIELD_NUMBER: _ClassVar[int]
    id: str
    code: CodeTask
    math: MathTask
    def __init__(self, id: _Optional[str] = ..., code: _Optional[_Union[CodeTask, _Mapping]] = ..., math: _Optional[_Union[MathTask, _Mapping]] = ...) -> None: ...

class CodeTask(_message.Message):
    __slots__ = ("language", "source", "tests", "limits", "stop_on_first_failure")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TESTS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    STOP_ON_FIRST_FAILURE_FIELD_NUMBER: _ClassVar[int]
    language: str
    source: str
    tests: _containers.RepeatedCompositeFieldContainer[TestCase]
    limits: Limits
    stop_on_first_failure: bool
    def __init__(self, language: _Optional[str] = ..., source: _Optional[str] = ..., tests: _Optional[_Iterable[_Union[TestCase, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., stop_on_first_failure: _Optional[bool] = ...) -> None: ...

class TestCase(_message.Message):
    __slots__ = ("stdio", "call", "assertion", "checker", "weight")
    STDIO_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    ASSERTION_FIELD_NUMBER: _ClassVar[int]
    CHECKER_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    stdio: StdioTest
    call: CallTest
    assertion: AssertionTest
    checker: Checker
    weight: float
    def __init__(self, stdio: _Optional[_Union[StdioTest, _Mapping]] = ..., call: _Optional[_Union[CallTest, _Mapping]] = ..., assertion: _Optional[_Union[AssertionTest, _Mapping]] = ..., checker: _Optional[_Union[Checker, _Mapping]] = ..., weight: _Optional[float] = ...) -> None: ...

class StdioTest(_message.Message):
    __slots__ = ("stdin", "expected_stdout", "stdin_bytes", "expected_stdout_bytes")
    STDIN_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDIN_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_STDOUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    stdin: str
    expected_stdout: str
    stdin_bytes: bytes
    expected_stdout_bytes: bytes
    def __init__(self, stdin: _Optional[str] = ..., expected_stdout: _Optional[str] = ..., stdin_bytes: _Optional[bytes] = ..., expected_stdout_bytes: _Optional[bytes] = ...) -> None: ...

class CallTest(_message.Message):
    __slots__ = ("function", "args_json", "expected_json")
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_JSON_FIELD_NUMBER: _ClassVar[int]
    function: str
    args_json: str
    expected_json: str
    def __init__(self, function: _Optional[str] = ..., args_json: _Optional[str] = ..., expected_json: _Optional[str] = ...) -> None: ...

class AssertionTest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class Checker(_message.Message):
    __slots__ = ("kind", "abs_tol", "rel_tol", "checker_source", "checker_language")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ABS_TOL_FIELD_NUMBER: _ClassVar[int]
    REL_TOL_FIELD_NUMBER: _ClassVar[int]
    CHECKER_SOURCE_FIELD_NUMBER: _ClassVar[int]
    CHECKER_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    kind: Kind
    abs_tol: float
    rel_tol: float
    checker_source: str
    checker_language: str
    def __init__(self, kind: _Optional[_Union[Kind, str]] = ..., abs_tol: _Optional[float] = ..., rel_tol: _Optional[float] = ..., checker_source: _Optional[str] = ..., checker_language: _Optional[str] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("time_limit_ms", "wall_time_limit_ms", "memory_limit_mb", "max_output_bytes", "compile_time_limit_ms")
    TIME_LIMIT_MS_FIELD_NUMBER: _ClassVar[int]
    WALL_TIME_LIMIT_MS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_MB_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    COMPILE_TIME_LIMIT_MS_FIELD_NUMBER: _ClassVar[int]
    time_limit_ms: int
    wall_time_limit_ms: int
    memory_limit_mb: int
    max_output_bytes: int
    compile_time_limit_ms: int
    def __init__(self, time_limit_ms: _Optional[int] = ..., wall_time_limit_ms: _Optional[int] = ..., memory_limit_mb: _Optional[int] = ..., max_output_bytes: _Optional[int] = ..., compile_time_limit_ms: _Optional[int] = ...) -> None: ...

class MathTask(_message.Message):
    __slots__ = ("response", "gold", "choices")
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    GOLD_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    response: str
    gold: str
    choices: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, response: _Optional[str] = ..., gold: _Optional[str] = ..., choices: _Optional[_Iterable[str]] = ...) -> None: ...

class TestResult(_message.Message):
    __slots__ = ("verdict", "time_ms", "memory_kb", "exit_code", "signal", "stdout_head", "stderr_head", "message", "wall_ms")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_KB_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    STDOUT_HEAD_FIELD_NUMBER: _ClassVar[int]
    STDERR_HEAD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    WALL_MS_FIELD_NUMBER: _ClassVar[int]
    verdict: Verdict
    time_ms: int
    memory_kb: int
    exit_code: int
    signal: int
    stdout_head: str
    stderr_head: str
    message: str
    wall_ms: int
    def __init__(self, verdict: _Optional[_Union[Verdict, str]] = ..., time_ms: _Optional[int] = ..., memory_kb: _Optional[int] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., stdout_head: _Optional[str] = ..., stderr_head: _Optional[str] = ..., message: _Optional[str] = ..., wall_ms: _Optional[int] = ...) -> None: ...

class MathDetail(_message.Message):
    __slots__ = ("extracted_answer", "normalized_answer", "normalized_gold", "reason")
    EXTRACTED_ANSWER_FIELD_NUMBER: _ClassVar[int]
    NORMALIZED_ANSWER_FIELD_NUMBER: _ClassVar[int]
    NORMALIZED_GOLD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    extracted_answer: str
    normalized_answer: str
    normalized_gold: str
    reason: str
    def __init__(self, extracted_answer: _Optional[str] = ..., normalized_answer: _Optional[str] = ..., normalized_gold: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Timing(_message.Message):
    __slots__ = ("queue_ms", "run_ms", "total_ms")
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    RUN_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    queue_ms: int
    run_ms: int
    total_ms: int
    def __init__(self, queue_ms: _Optional[int] = ..., run_ms: _Optional[int] = ..., total_ms: _Optional[int] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("id", "reward", "accepted", "verdict", "passed", "total", "tests", "compile_output", "math", "timing", "worker", "cached", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    TESTS_FIELD_NUMBER: _ClassVar[int]
    COMPILE_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    MATH_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    reward: float
    accepted: bool
    verdict: Verdict
    passed: int
    total: int
    tests: _containers.RepeatedCompositeFieldContainer[TestResult]
    compile_output: str
    math: MathDetail
    timing: Timing
    worker: str
    cached: bool
    error: RequestError
    def __init__(self, id: _Optional[str] = ..., reward: _Optional[float] = ..., accepted: _Optional[bool] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., passed: _Optional[int] = ..., total: _Optional[int] = ..., tests: _Optional[_Iterable[_Union[TestResult, _Mapping]]] = ..., compile_output: _Optional[str] = ..., math: _Optional[_Union[MathDetail, _Mapping]] = ..., timing: _Optional[_Union[Timing, _Mapping]] = ..., worker: _Optional[str] = ..., cached: _Optional[bool] = ..., error: _Optional[_Union[RequestError, _Mapping]] = ...) -> None: ...

class RequestError(_message.Message):
    __slots__ = ("code", "field", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    field: str
    message: str
    def __init__(self, code: _Optional[str] = ..., field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ListLanguagesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Language(_message.Message):
    __slots__ = ("name", "version", "test_kinds", "default_limits", "max_limits", "aliases")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TEST_KINDS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_LIMITS_FIELD_NUMBER: _ClassVar[int]
    MAX_LIMITS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    test_kinds: _containers.RepeatedScalarFieldContainer[str]
    default_limits: Limits
    max_limits: Limits
    aliases: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., test_kinds: _Optional[_Iterable[str]] = ..., default_limits: _Optional[_Union[Limits, _Mapping]] = ..., max_limits: _Optional[_Union[Limits, _Mapping]] = ..., aliases: _Optional[_Iterable[str]] = ...) -> None: ...

class ListLanguagesResponse(_message.Message):
    __slots__ = ("languages", "seccomp_profile")
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    SECCOMP_PROFILE_FIELD_NUMBER: _ClassVar[int]
    languages: _containers.RepeatedCompositeFieldContainer[Language]
    seccomp_profile: str
    def __init__(self, languages: _Optional[_Iterable[_Union[Language, _Mapping]]] = ..., seccomp_profile: _Optional[str] = ...) -> None: ...

class SessionLimits(_message.Message):
    __slots__ = ("memory_limit_mb", "cell_time_limit_ms", "cell_wall_time_limit_ms", "max_output_bytes")
    MEMORY_LIMIT_MB_FIELD_NUMBER: _ClassVar[int]
    CELL_TIME_LIMIT_MS_FIELD_NUMBER: _ClassVar[int]
    CELL_WALL_TIME_LIMIT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    memory_limit_mb: int
    cell_time_limit_ms: int
    cell_wall_time_limit_ms: int
    max_output_bytes: int
    def __init__(self, memory_limit_mb: _Optional[int] = ..., cell_time_limit_ms: _Optional[int] = ..., cell_wall_time_limit_ms: _Optional[int] = ..., max_output_bytes: _Optional[int] = ...) -> None: ...

class File(_message.Message):
    __slots__ = ("path", "content")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    path: str
    content: bytes
    def __init__(self, path: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class OpenSessionRequest(_message.Message):
    __slots__ = ("key", "language", "limits", "idle_timeout_s", "max_lifetime_s", "labels", "setup_code", "files")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KEY_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    MAX_LIFETIME_S_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SETUP_CODE_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    key: str
    language: str
    limits: SessionLimits
    idle_timeout_s: int
    max_lifetime_s: int
    labels: _containers.ScalarMap[str, str]
    setup_code: str
    files: _containers.RepeatedCompositeFieldContainer[File]
    def __init__(self, key: _Optional[str] = ..., language: _Optional[str] = ..., limits: _Optional[_Union[SessionLimits, _Mapping]] = ..., idle_timeout_s: _Optional[int] = ..., max_lifetime_s: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ..., setup_code: _Optional[str] = ..., files: _Optional[_Iterable[_Union[File, _Mapping]]] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("session_id", "key", "expires_at_ms", "worker")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    key: str
    expires_at_ms: int
    worker: str
    def __init__(self, session_id: _Optional[str] = ..., key: _Optional[str] = ..., expires_at_ms: _Optional[int] = ..., worker: _Optional[str] = ...) -> None: ...

class RunCellRequest(_message.Message):
    __slots__ = ("session_id", "code", "time_limit_ms")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_MS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    code: str
    time_limit_ms: int
    def __init__(self, session_id: _Optional[str] = ..., code: _Optional[str] = ..., time_limit_ms: _Optional[int] = ...) -> None: ...

class CellError(_message.Message):
    __slots__ = ("ename", "evalue", "traceback")
    ENAME_FIELD_NUMBER: _ClassVar[int]
    EVALUE_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    ename: str
    evalue: str
    traceback: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ename: _Optional[str] = ..., evalue: _Optional[str] = ..., traceback: _Optional[_Iterable[str]] = ...) -> None: ...

class CellResult(_message.Message):
    __slots__ = ("status", "stdout", "stderr", "display", "error", "execution_count", "wall_ms", "state_preserved", "truncated")
    class CellStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CELL_STATUS_UNSPECIFIED: _ClassVar[CellResult.CellStatus]
        OK: _ClassVar[CellResult.CellStatus]
        ERROR: _ClassVar[CellResult.CellStatus]
        TIMEOUT: _ClassVar[CellResult.CellStatus]
        MEMORY_LIMIT_EXCEEDED: _ClassVar[CellResult.CellStatus]
        OUTPUT_LIMIT_EXCEEDED: _ClassVar[CellResult.CellStatus]
        SESSION_LOST: _ClassVar[CellResult.CellStatus]
    CELL_STATUS_UNSPECIFIED: CellResult.CellStatus
    OK: CellResult.CellStatus
    ERROR: CellResult.CellStatus
    TIMEOUT: CellResult.CellStatus
    MEMORY_LIMIT_EXCEEDED: CellResult.CellStatus
    OUTPUT_LIMIT_EXCEEDED: CellResult.CellStatus
    SESSION_LOST: CellResult.CellStatus
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    WALL_MS_FIELD_NUMBER: _ClassVar[int]
    STATE_PRESERVED_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    status: CellResult.CellStatus
    stdout: str
    stderr: str
    display: str
    error: CellError
    execution_count: int
    wall_ms: int
    state_preserved: bool
    truncated: bool
    def __init__(self, status: _Optional[_Union[CellResult.CellStatus, str]] = ..., stdout: _Optional[str] = ..., stderr: _Optional[str] = ..., display: _Optional[str] = ..., error: _Optional[_Union[CellError, _Mapping]] = ..., execution_count: _Optional[int] = ..., wall_ms: _Optional[int] = ..., state_preserved: _Optional[bool] = ..., truncated: _Optional[bool] = ...) -> None: ...

class CloseSessionRequest(_message.Message):
    __slots__ = ("session_id", "key")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    key: str
    def __init__(self, session_id: _Optional[str] = ..., key: _Optional[str] = ...) -> None: ...

class CloseSessionResponse(_message.Message):
    __slots__ = ("closed",)
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    closed: bool
    def __init__(self, closed: _Optional[bool] = ...) -> None: ...

class CloseSessionsRequest(_message.Message):
    __slots__ = ("labels",)
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    LABELS_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.ScalarMap[str, str]
    def __init__(self, labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CloseSessionsResponse(_message.Message):
    __slots__ = ("closed",)
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    closed: int
    def __init__(self, closed: _Optional[int] = ...) -> None: ...
