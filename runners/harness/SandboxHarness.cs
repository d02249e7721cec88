// Assertion tests of C#: a failed Debug.Assert / Trace.Assert ends the run with exit 1 (mono's default
// listener only prints); the test's Main is called and, only if it returns (0), the run's nonce is
// written to fd 3, the status pipe only the harness reads. Environment.Exit(0) never gets here.
using System;
using System.Diagnostics;
using System.IO;
using System.Reflection;

sealed class SandboxHarnessListener : TraceListener {
    public override void Write(string message) { Console.Error.Write(message); }
    public override void WriteLine(string message) { Console.Error.WriteLine(message); }
    public override void Fail(string message) { Fail(message, null); }
    public override void Fail(string message, string detail) {
        Console.Error.WriteLine("Assertion failed: " + message + (detail == null ? "" : " " + detail));
        Console.Error.Flush();
        Environment.Exit(1);
    }
}

static class SandboxHarness {
    static int Main(string[] args) {
        Debug.Listeners.Clear();
        Debug.Listeners.Add(new SandboxHarnessListener());
        MethodInfo entry = null;
        foreach (Type type in Assembly.GetExecutingAssembly().GetTypes()) {
            if (type == typeof(SandboxHarness)) continue;
            foreach (MethodInfo m in type.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)) {
                if (m.Name != "Main") continue;
                if (entry != null) { Console.Error.WriteLine("more than one Main method"); return 1; }
                entry = m;
            }
        }
        if (entry == null) { Console.Error.WriteLine("no Main method"); return 1; }
        object result;
        try {
            result = entry.Invoke(null, entry.GetParameters().Length == 0 ? null : new object[] { args });
        } catch (TargetInvocationException e) {
            Console.Error.WriteLine("Unhandled exception: " + e.InnerException);
            return 1;
        }
        if (result is int && (int)result != 0) return (int)result;
        Console.Out.Flush();
        byte[] done = System.Text.Encoding.ASCII.GetBytes("@NONCE@ ok\n");
        using (FileStream status = new FileStream("/dev/fd/3", FileMode.Open, FileAccess.Write)) {
            status.Write(done, 0, done.Length);
        }
        return 0;
    }
}
