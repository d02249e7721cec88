"""Per-language programs for tests/test_languages.py: one row per language, the same cases for each.

Every case is a small hand-written program; ``cheats`` are programs with a wrong ``add`` that try to
pass an assertion test anyway (exit 0 early, from a static initializer, a helper, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

Y = "y" * 60


@dataclass(frozen=True)
class Row:
    hello: str
    add: str  # reads two integers from stdin, prints their sum
    compile_error: str
    diagnostic: str  # text the diagnostics must hold
    crash: str
    spin: str
    hog: str
    flood: str
    bomb: str
    program: str  # defines add(2, 3) == 5, to which the tests below are appended
    test_pass: str
    test_fail: str
    cheats: dict[str, str] = field(default_factory=dict)
    cheat_refused: dict[str, str] = field(default_factory=dict)  # refused before building


ROWS: dict[str, Row] = {
    "c": Row(
        hello='#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n',
        add='#include <stdio.h>\nint main(void) { long a, b; if (scanf("%ld %ld", &a, &b) != 2) return 1;'
        ' printf("%ld\\n", a + b); return 0; }\n',
        compile_error="int main(void) { return undefined_name; }\n",
        diagnostic="undefined_name",
        crash="#include <stdlib.h>\nint main(void) { abort(); }\n",
        spin="int main(void) { volatile unsigned long x = 0; for (;;) x++; }\n",
        hog="#include <stdlib.h>\n#include <string.h>\n"
        "int main(void) { for (;;) { char *p = malloc(1 << 20); memset(p, 1, 1 << 20); } }\n",
        flood=f'#include <stdio.h>\nint main(void) {{ for (;;) fputs("{Y}\\n", stdout); }}\n',
        bomb="#include <unistd.h>\nint main(void) { for (;;) fork(); }\n",
        program="#include <math.h>\nint add(int a, int b) { return a + b + (int)floor(0.5); }\n",
        test_pass="int main(void) { assert(add(2, 3) == 5); return 0; }\n",
        test_fail="int main(void) { assert(add(2, 3) == 6); return 0; }\n",
        cheats={
            "constructor": "#include <stdlib.h>\nint add(int a, int b) { return 0; }\n"
            "__attribute__((constructor)) static void cheat(void) { exit(0); }\n",
            "atexit": "#include <stdlib.h>\nstatic void bye(void) { _Exit(0); }\n"
            "int add(int a, int b) { atexit(bye); exit(0); }\n",
            "exit_in_helper": "#include <stdlib.h>\nint add(int a, int b) { exit(0); }\n",
        },
        cheat_refused={
            "define_assert": "#define assert(x) ((void)0)\nint add(int a, int b) { return 0; }\n",
            "define_ndebug": "#define NDEBUG\n#include <assert.h>\nint add(int a, int b) { return 0; }\n",
        },
    ),
    "cpp": Row(
        hello='#include <iostream>\nint main() { std::cout << "hello" << std::endl; }\n',
        add="#include <iostream>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a + b << '\\n'; }\n",
        compile_error="int main() { return undefined_name; }\n",
        diagnostic="undefined_name",
        crash="#include <cstdlib>\nint main() { std::abort(); }\n",
        spin="int main() { volatile unsigned long x = 0; for (;;) x++; }\n",
        hog="#include <vector>\n#include <cstring>\n#include <cstdlib>\n"
        "int main() { for (;;) { char *p = (char *)malloc(1 << 20); memset(p, 1, 1 << 20); } }\n",
        flood=f'#include <cstdio>\nint main() {{ for (;;) fputs("{Y}\\n", stdout); }}\n',
        bomb="#include <unistd.h>\nint main() { for (;;) fork(); }\n",
        program="#include <vector>\n#include <boost/algorithm/string.hpp>\n#include <openssl/md5.h>\n"
        "int add(int a, int b) { std::vector<int> v{a, b}; return v[0] + v[1]; }\n",
        test_pass="int main() { assert(add(2, 3) == 5); }\n",
        test_fail="int main() { assert(add(2, 3) == 6); }\n",
        cheats={
            "static_init": "#include <cstdlib>\nint add(int a, int b) { return 0; }\n"
            "struct Cheat { Cheat() { std::exit(0); } } cheat;\n",
            "exit_in_helper": "#include <cstdlib>\nint add(int a, int b) { std::exit(0); }\n",
        },
        cheat_refused={
            "define_assert": "#include <cassert>\n#undef assert\n#define assert(x) (void)(x)\n"
            "int add(int a, int b) { return 0; }\n",
        },
    ),
    "java": Row(
        hello='public class Main { public static void main(String[] a) { System.out.println("hello"); } }\n',
        add="import java.util.*;\npublic class Main { public static void main(String[] a) {"
        " Scanner s = new Scanner(System.in); long x = s.nextLong(), y = s.nextLong();"
        " System.out.println(x + y); } }\n",
        compile_error="public class Main { public static void main(String[] a) { int x = undefined_name; } }\n",
        diagnostic="undefined_name",
        crash='public class Main { public static void main(String[] a) { throw new RuntimeException("boom"); } }\n',
        spin="public class Main { public static void main(String[] a) { long x = 0;"
        " while (x != -1) { x++; } } }\n",
        hog="import java.util.*;\npublic class Main { public static void main(String[] a) {"
        " List<long[]> l = new ArrayList<>(); while (true) l.add(new long[1 << 17]); } }\n",
        flood=f'public class Main {{ public static void main(String[] a) {{ while (true) System.out.print("{Y}\\n"); }} }}\n',
        bomb="public class Main { public static void main(String[] a) throws Exception {"
        ' while (true) new ProcessBuilder("/bin/sleep", "100").start(); } }\n',
        program="import java.util.*;\n\nclass Solution {\n    public int add(int a, int b) { return a + b; }\n}\n",
        test_pass="public class Main {\n    public static void main(String[] args) {\n"
        "        Solution s = new Solution();\n        if (s.add(2, 3) != 5) throw new AssertionError();\n    }\n}\n",
        test_fail="public class Main {\n    public static void main(String[] args) {\n"
        "        assert new Solution().add(2, 3) == 6;\n    }\n}\n",
        cheats={
            "static_block": "class Solution {\n    static { System.exit(0); }\n"
            "    public int add(int a, int b) { return 0; }\n}\n",
            "halt_in_helper": "class Solution {\n"
            "    public int add(int a, int b) { Runtime.getRuntime().halt(0); return 0; }\n}\n",
        },
    ),
    "javascript": Row(
        hello='console.log("hello");\n',
        add="const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\n"
        "console.log(a + b);\n",
        compile_error="function (\n",
        diagnostic="SyntaxError",
        crash='throw new Error("boom");\n',
        spin="let x = 0; for (;;) { x++; }\n",
        hog="const a = []; for (;;) a.push(new Array(1 << 16).fill(1.5));\n",
        flood=f'for (;;) process.stdout.write("{Y}\\n");\n',
        bomb="const cp = require('child_process'); for (;;) cp.spawn('/bin/sleep', ['100']);\n",
        program="function add(a, b) {\n  return a + b;\n}\n",
        test_pass="const assert = require('node:assert');\nconsole.assert(add(2, 3) === 5);\n"
        "assert.deepEqual(add(2, 3), 5);\n",
        test_fail="console.assert(add(2, 3) === 6, 'add(2, 3) should be 6');\n",
        cheats={
            "exit_in_helper": "function add(a, b) { process.exit(0); }\n",
            "exit_at_top": "function add(a, b) { return 0; }\nprocess.exit(0);\n",
            "noop_console_assert": "console.assert = () => {};\nfunction add(a, b) { return 0; }\n",
            "noop_assert_module": "require('assert').deepEqual = () => {};\n"
            "console.assert = () => {};\nfunction add(a, b) { return 0; }\n",
        },
    ),
    "typescript": Row(
        hello='console.log("hello");\n',
        add="declare var require: any;\n"
        "const [a, b]: number[] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\n"
        "console.log(a + b);\n",
        compile_error="const x: number = 'a string';\n",
        diagnostic="TS2322",
        crash='throw new Error("boom");\n',
        spin="let x: number = 0; for (;;) { x++; }\n",
        hog="const a: number[][] = []; for (;;) a.push(new Array(1 << 16).fill(1.5));\n",
        flood=f'declare var process: any;\nfor (;;) process.stdout.write("{Y}\\n");\n',
        bomb="declare var require: any;\nconst cp = require('child_process'); for (;;) cp.spawn('/bin/sleep', ['100']);\n",
        program="function add(a: number, b: number): number {\n  return a + b;\n}\n",
        test_pass="declare var require: any;\nconst assert = require('node:assert');\n"
        "assert.deepEqual(add(2, 3), 5);\nconsole.assert(add(2, 3) === 5);\n",
        test_fail="console.assert(add(2, 3) === 6);\n",
        cheats={
            "exit_in_helper": "declare var process: any;\n"
            "function add(a: number, b: number): number { process.exit(0); return 0; }\n",
        },
    ),
    "go": Row(
        hello='package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n',
        add='package main\n\nimport "fmt"\n\nfunc main() {\n\tvar a, b int64\n\tfmt.Scan(&a, &b)\n'
        "\tfmt.Println(a + b)\n}\n",
        compile_error="package main\n\nfunc main() { x := undefined_name }\n",
        diagnostic="undefined_name",
        crash='package main\n\nfunc main() { panic("boom") }\n',
        spin="package main\n\nfunc main() {\n\tfor {\n\t}\n}\n",
        hog="package main\n\nfunc main() {\n\tvar l [][]byte\n\tfor {\n\t\tb := make([]byte, 1<<20)\n"
        "\t\tfor i := range b {\n\t\t\tb[i] = 1\n\t\t}\n\t\tl = append(l, b)\n\t}\n}\n",
        flood=f'package main\n\nimport "os"\n\nfunc main() {{\n\tb := []byte("{Y}\\n")\n\tfor {{\n'
        "\t\tos.Stdout.Write(b)\n\t}\n}\n",
        bomb='package main\n\nimport "os/exec"\n\nfunc main() {\n\tfor {\n'
        '\t\texec.Command("/bin/sleep", "100").Start()\n\t}\n}\n',
        program='package main\n\nimport (\n\t"testing"\n\n\t"github.com/stretchr/testify/assert"\n)\n\n'
        "func Add(a, b int) int { return a + b }\n",
        test_pass="func TestAdd(t *testing.T) {\n\tassert.Equal(t, 5, Add(2, 3))\n}\n",
        test_fail="func TestAdd(t *testing.T) {\n\tassert.Equal(t, 6, Add(2, 3))\n}\n",
        cheats={
            "init_exit": 'package main\n\nimport (\n\t"os"\n\t"testing"\n\n\t"github.com/stretchr/testify/assert"\n)\n\n'
            "func init() { os.Exit(0) }\n\nfunc Add(a, b int) int { return 0 }\n",
            "exit_in_helper": 'package main\n\nimport (\n\t"os"\n\t"testing"\n\n'
            '\t"github.com/stretchr/testify/assert"\n)\n\n'
            "func Add(a, b int) int { os.Exit(0); return 0 }\n",
        },
    ),
    "rust": Row(
        hello='fn main() {\n    println!("hello");\n}\n',
        add="use std::io::Read;\nfn main() {\n    let mut s = String::new();\n"
        "    std::io::stdin().read_to_string(&mut s).unwrap();\n"
        "    let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();\n"
        '    println!("{}", v[0] + v[1]);\n}\n',
        compile_error="fn main() {\n    let x = undefined_name;\n}\n",
        diagnostic="undefined_name",
        crash='fn main() {\n    panic!("boom");\n}\n',
        spin="fn main() {\n    let mut x = 0u64;\n    loop {\n"
        "        unsafe { std::ptr::write_volatile(&mut x, x + 1) };\n    }\n}\n",
        hog="fn main() {\n    let mut v: Vec<Vec<u8>> = Vec::new();\n    loop {\n        v.push(vec![1u8; 1 << 20]);\n    }\n}\n",
        flood=f"use std::io::Write;\nfn main() {{\n    let out = std::io::stdout();\n    let mut l = out.lock();\n"
        f'    loop {{\n        l.write_all(b"{Y}\\n").unwrap();\n    }}\n}}\n',
        bomb="fn main() {\n    loop {\n"
        '        let _ = std::process::Command::new("/bin/sleep").arg("100").spawn();\n    }\n}\n',
        program="use rand::Rng;\nuse regex::Regex;\n#[allow(unused_imports)]\nuse md5;\n\n"
        'fn add(a: i32, b: i32) -> i32 {\n    let _ = Regex::new("a+").unwrap();\n'
        "    let _ = rand::thread_rng().gen_range(0..1);\n    a + b\n}\n",
        test_pass="fn main() {\n    assert_eq!(add(2, 3), 5);\n}\n",
        test_fail="fn main() {\n    assert_eq!(add(2, 3), 6);\n}\n",
        cheats={
            "exit_in_helper": "fn add(_a: i32, _b: i32) -> i32 {\n    std::process::exit(0)\n}\n",
        },
    ),
    "csharp": Row(
        hello='class P { static void Main() { System.Console.WriteLine("hello"); } }\n',
        add="using System;\nclass P { static void Main() {"
        " var p = Console.In.ReadToEnd().Split((char[])null, StringSplitOptions.RemoveEmptyEntries);"
        " Console.WriteLine(long.Parse(p[0]) + long.Parse(p[1])); } }\n",
        compile_error="class P { static void Main() { int x = undefined_name; } }\n",
        diagnostic="undefined_name",
        crash='class P { static void Main() { throw new System.Exception("boom"); } }\n',
        spin="class P { static void Main() { long x = 0; while (x != -1) { x++; } } }\n",
        hog="using System.Collections.Generic;\nclass P { static void Main() { var l = new List<byte[]>();"
        " while (true) { var b = new byte[1 << 20]; for (int i = 0; i < b.Length; i += 4096) b[i] = 1; l.Add(b); } } }\n",
        flood=f'class P {{ static void Main() {{ var o = System.Console.Out; while (true) o.Write("{Y}\\n"); }} }}\n',
        bomb='class P { static void Main() { while (true) System.Diagnostics.Process.Start("/bin/sleep", "100"); } }\n',
        program="using System;\nusing System.Diagnostics;\nusing System.Numerics;\n\nclass Problem {\n"
        "    public static int Add(int a, int b) { return a + b; }\n",
        test_pass="    public static void Main(string[] args) {\n        Debug.Assert(Add(2, 3) == 5);\n    }\n}\n",
        test_fail="    public static void Main(string[] args) {\n        Debug.Assert(Add(2, 3) == 6);\n    }\n}\n",
        cheats={
            "static_ctor": "using System;\nusing System.Diagnostics;\n\nclass Problem {\n"
            "    static Problem() { Environment.Exit(0); }\n    public static int Add(int a, int b) { return 0; }\n",
            "exit_in_helper": "using System;\nusing System.Diagnostics;\n\nclass Problem {\n"
            "    public static int Add(int a, int b) { Environment.Exit(0); return 0; }\n",
        },
    ),
    "php": Row(
        hello='<?php\necho "hello\\n";\n',
        add="<?php\n[$a, $b] = array_map('intval', preg_split('/\\s+/', trim(stream_get_contents(STDIN))));\n"
        'echo $a + $b, "\\n";\n',
        compile_error="<?php\nfunction ( {\n",
        diagnostic="syntax error",
        crash='<?php\nthrow new Exception("boom");\n',
        spin="<?php\n$x = 0;\nwhile (true) { $x++; }\n",
        hog='<?php\n$a = [];\nwhile (true) { $a[] = str_repeat("x", 1 << 20) . count($a); }\n',
        flood=f'<?php\nwhile (true) {{ echo "{Y}\\n"; }}\n',
        bomb='<?php\nwhile (true) { proc_open(["/bin/sleep", "100"], [], $pipes); }\n',
        program="<?php\nfunction add($a, $b) {\n    return $a + $b;\n}\n",
        test_pass="function candidate(...$args) {\n    return add(...$args);\n}\n\nfunction test(): void {\n"
        '    if (candidate(2, 3) !== 5) { throw new Exception("Test failed!"); }\n    assert(add(2, 3) === 5);\n}\n\ntest();\n',
        test_fail="function test(): void {\n    assert(add(2, 3) === 6);\n}\n\ntest();\n",
        cheats={
            "exit_in_helper": "<?php\nfunction add($a, $b) {\n    exit(0);\n}\n",
            "shutdown_exit": "<?php\nregister_shutdown_function(function () { exit(0); });\n"
            "function add($a, $b) {\n    return 0;\n}\n",
        },
    ),
    "ruby": Row(
        hello='puts "hello"\n',
        add="a, b = STDIN.read.split.map(&:to_i)\nputs a + b\n",
        compile_error="def f(\n",
        diagnostic="syntax error",
        crash='raise "boom"\n',
        spin="x = 0\nloop { x += 1 }\n",
        hog='a = []\nloop { a << "x" * (1 << 20) }\n',
        flood=f'loop {{ $stdout.write("{Y}\\n") }}\n',
        bomb="loop { fork { sleep 100 } }\n",
        program="def add(a, b)\n  a + b\nend\n",
        test_pass="require 'test/unit'\nclass TestHumanEval < Test::Unit::TestCase\n  def test_add\n"
        "    candidate = method(:add)\n    assert_equal(5, candidate.call(2, 3))\n  end\nend\n",
        test_fail="require 'test/unit'\nclass TestHumanEval < Test::Unit::TestCase\n  def test_add\n"
        "    candidate = method(:add)\n    assert_equal(6, candidate.call(2, 3))\n  end\nend\n",
        cheats={
            "exit_in_helper": "def add(a, b)\n  exit(0)\nend\n",
            "exit_bang_at_exit": "at_exit { exit!(0) }\ndef add(a, b)\n  0\nend\n",
        },
    ),
    "bash": Row(
        hello="echo hello\n",
        add="read a b\necho $((a + b))\n",
        compile_error="if then fi (\n",
        diagnostic="syntax error",
        crash="exit 3\n",
        spin="while :; do :; done\n",
        hog='x=a\nwhile :; do x="$x$x"; done\n',
        flood=f"while :; do echo {Y}; done\n",
        bomb="f() { f | f & }\nf\nsleep 30\n",
        program="add() {\n  echo $(( $1 + $2 ))\n}\n",
        test_pass='set -e\n[[ "$(add 2 3)" = "5" ]]\n',
        test_fail='set -e\n[[ "$(add 2 3)" = "6" ]]\n',
        cheats={
            "exit_at_top": "add() { echo 0; }\nexit 0\n",
            "trap_exit": "trap 'exit 0' EXIT\nadd() { echo 0; }\n",
        },
    ),
    "perl": Row(
        hello='print "hello\\n";\n',
        add="my ($a, $b) = split ' ', do { local $/; <STDIN> };\nprint $a + $b, \"\\n\";\n",
        compile_error="sub f {\n",
        diagnostic="Missing right curly",
        crash='die "boom";\n',
        spin="my $x = 0;\nwhile (1) { $x++ }\n",
        hog='my @a;\nwhile (1) { push @a, "x" x (1 << 20) }\n',
        flood=f'while (1) {{ print "{Y}\\n" }}\n',
        bomb="while (1) { fork }\n",
        program="sub add {\n    my ($a, $b) = @_;\n    return $a + $b;\n}\n",
        test_pass="use Test::Deep;\n\nsub testhumaneval {\n    my $candidate = \\&add;\n"
        "    if (eq_deeply($candidate->(2, 3), 5)) {} else { die 1; }\n}\n\ntesthumaneval();\n",
        test_fail="use Test::Deep;\n\nsub testhumaneval {\n    my $candidate = \\&add;\n"
        "    if (eq_deeply($candidate->(2, 3), 6)) {} else { die 1; }\n}\n\ntesthumaneval();\n",
        cheats={
            "exit_in_helper": "sub add {\n    exit 0;\n}\n",
            "end_block": "END { $? = 0 }\nsub add {\n    return 0;\n}\n",
        },
    ),
    "lua": Row(
        hello='print("hello")\n',
        add='local a, b = io.read("n", "n")\nprint(a + b)\n',
        compile_error="function f(\n",
        diagnostic="expected",
        crash='error("boom")\n',
        spin="local x = 0\nwhile true do x = x + 1 end\n",
        hog='local t = {}\nwhile true do t[#t + 1] = string.rep("x", 1 << 20) .. #t end\n',
        flood=f'while true do io.write("{Y}\\n") end\n',
        bomb='while true do io.popen("sleep 100") end\n',
        program="local function add(a, b)\n  return a + b\nend\n",
        test_pass="lu = require('luaunit')\n\nfunction test_humaneval()\n  local candidate = add\n"
        "  lu.assertEquals(candidate(2, 3), 5)\nend\n\nos.exit(lu.LuaUnit.run())\n",
        test_fail="lu = require('luaunit')\n\nfunction test_humaneval()\n  local candidate = add\n"
        "  lu.assertEquals(candidate(2, 3), 6)\nend\n\nos.exit(lu.LuaUnit.run())\n",
        cheats={
            "exit_in_helper": "local function add(a, b)\n  os.exit(0)\nend\n",
            "exit_at_top": "local function add(a, b)\n  return 0\nend\nos.exit(0)\n",
        },
    ),
}
