// Assertion tests of JavaScript and TypeScript, preloaded with `node -r` before the program.
// console.assert fails the test (exit 1) instead of printing; it, `console`, the assert module and
// `JSON` are frozen so the program cannot swap them for no-ops. Only when the main module's top level has run to
// its end is the run's nonce written to fd 3, the status pipe only the harness reads: process.exit(0)
// anywhere before that, or a throw, never gets there.
'use strict';
(() => {
  const fs = require('fs');
  const util = require('util');
  const Module = require('module');
  const assert = require('assert');
  const writeSync = fs.writeSync;
  const exit = process.exit.bind(process);
  const compile = Module.prototype._compile;
  const main = require('path').resolve(process.argv[1]);
  const consoleAssert = (value, ...message) => {
    if (!value) {
      writeSync(2, 'Assertion failed' + (message.length ? ': ' + util.format(...message) : '') + '\n');
      exit(1);
    }
  };
  Object.defineProperty(console, 'assert', { value: consoleAssert, writable: false, configurable: false });
  Object.defineProperty(globalThis, 'console', { value: console, writable: false, configurable: false });
  Object.freeze(assert.strict);
  Object.freeze(assert);
  // HumanEval-X's tests compare JSON.stringify(result) with JSON.stringify(expected): a program's
  // `JSON.stringify = () => ''` would make every such comparison hold.
  Object.freeze(JSON);
  Object.defineProperty(globalThis, 'JSON', { value: JSON, writable: false, configurable: false });
  let done = false;
  Module.prototype._compile = function (content, filename) {
    const result = compile.call(this, content, filename);
    if (filename === main && !done) {
      done = true;
      writeSync(3, '@NONCE@ ok\n');
    }
    return result;
  };
})();
