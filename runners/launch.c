/* launch: how the fork server starts an exec'd process (a compiler, a compiled program, an
 * interpreter), in place of a forked copy of itself that sets the process up in Python.
 *
 * The fork server (zygote.py) posix_spawns this static binary as uid 0 with the run's pipes already
 * at fd 0, 1, 2 (and the status pipe at 3), in a session of its own, with SIGPIPE and SIGXFSZ at their
 * defaults. It does what zygote._child did, in the same order, then execs the program:
 *
 *   close every other fd; oom_score_adj 1000; the rlimits; fd 3 mode 0622 (status runs); drop
 *   groups, gid and uid (from uid 0 to all-nonzero: the kernel clears every capability); chdir;
 *   umask 022; execve.
 *
 * Why C: a fork of the Python fork server copies its page tables and the exec tears them down again,
 * and the child's Python touches (copies) pages on the way: ~2 ms of CPU per run, against ~1 ms
 * for this binary spawned with vfork semantics (measured in the runtime image; see README, Speed).
 *
 * Command line (from zygote.py only):
 *   launch UID STATUS CWD N RES SOFT HARD ... (N triples) -- ARGV...
 * fd 4 is a pipe to the fork server, close-on-exec from here on: a failure of the setup is written there
 * ("launch: what: why") and ends this process with 126 before any program code ran, so the fork
 * server reports it as its own failure (an infrastructure error), never as the program's. A failed
 * execve (no such program) is the program's: "cannot execute ..." on stderr and exit 127, as
 * before.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define ERRFD 4

static void fail(const char *what, int err) {
    dprintf(ERRFD, "launch: %s: %s", what, strerror(err));
    _exit(126);
}

static unsigned long long number(const char *s, const char *what) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end) {
        fail(what, errno ? errno : EINVAL);
    }
    return v;
}

int main(int argc, char **argv) {
    if (fcntl(ERRFD, F_SETFD, FD_CLOEXEC)) {
        _exit(126); /* no pipe to say it on: the fork server reads EOF and a status of 126 */
    }
    if (argc < 7) {
        fail("usage", EINVAL);
    }
    uid_t uid = (uid_t)number(argv[1], "uid");
    int status = (int)number(argv[2], "status flag");
    const char *cwd = argv[3];
    int n = (int)number(argv[4], "rlimit count");
    int i = 5;
    if (uid == 0 || n < 0 || argc < i + 3 * n + 2 || strcmp(argv[i + 3 * n], "--")) {
        fail("usage", EINVAL);
    }
    /* Keep 0-2, the status pipe (3) of a status run, and the error pipe: every other fd is closed. */
    if (!status && close(3) && errno != EBADF) {
        fail("close", errno);
    }
    if (close_range(ERRFD + 1, ~0U, 0)) {
        fail("cloexec", errno);
    }
    /* The program, not the agent or the fork server, is what the OOM killer must pick first. */
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "1000", 4) != 4) {
        fail("oom_score_adj", errno);
    }
    close(fd);
    for (int k = 0; k < n; k++, i += 3) {
        struct rlimit r = {number(argv[i + 1], "rlimit"), number(argv[i + 2], "rlimit")};
        if (setrlimit((int)number(argv[i], "rlimit"), &r)) {
            fail("setrlimit", errno);
        }
    }
    i++; /* "--" */
    /* The harness may reach the pipe by /proc/self/fd/3 (Java, C#, Ruby, Lua have no write-to-fd-n
     * call): reopening a pipe checks its mode, so others may open it for writing (not reading). */
    if (status && fchmod(3, 0622)) {
        fail("fchmod", errno);
    }
    if (setgroups(0, NULL) || setgid(uid) || setuid(uid)) {
        fail("setuid", errno);
    }
    if (getuid() != uid || geteuid() != uid || getgid() != uid || getegid() != uid) {
        fail("setuid", EPERM);
    }
    if (chdir(cwd)) {
        fail("chdir", errno);
    }
    umask(022);
    execve(argv[i], argv + i, environ);
    int err = errno;
    close(ERRFD); /* from here on it is the program's failure, not ours */
    dprintf(2, "cannot execute %s: %s\n", argv[i], strerror(err));
    _exit(127);
}
