<?php
// Assertion tests of PHP (auto_append_file): runs only when the script ran to its end (not after
// exit() or an uncaught exception), and writes the run's nonce to fd 3, the status pipe only the harness reads.
file_put_contents('php://fd/3', "@NONCE@ ok\n");
