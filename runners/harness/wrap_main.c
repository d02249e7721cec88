/* Assertion tests of C, C++ and Rust: linked with -Wl,--wrap=main, so the C runtime calls this and
 * this calls the program's main. Only when main returns 0 (the test code ran to its end) is the run's
 * nonce written to fd 3, the status pipe only the harness reads: exit(0) from a static initializer,
 * an atexit handler or a helper the test calls never gets here. */
#include <stdio.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif
int __real_main(int argc, char **argv, char **envp);
int __wrap_main(int argc, char **argv, char **envp) {
    static const char done[] = "@NONCE@ ok\n";
    int code = __real_main(argc, argv, envp);
    if (code == 0 && fflush(NULL) == 0 && write(3, done, sizeof done - 1) == (ssize_t)(sizeof done - 1))
        return 0;
    return code ? code : 1;
}
#ifdef __cplusplus
}
#endif
