// Assertion tests of JavaScript and TypeScript, preloaded with `node -r` before the program.
//
// The program and the test share one module (the test calls the program's functions by name), so
// what keeps the program from faking a pass is here:
// - The run's nonce and the test code come on stdin: a pipe read to its end below, before any
//   program code runs. Neither is in a file the program can read (TypeScript's test, built with the
//   program, is cut out of the built file by the runner first).
// - The test is compiled into the main module after the program, inside arrow functions that bind
//   `require`, `console`, `JSON`, `Math`, ... to the genuine ones (a module-level `var JSON` or
//   `function require` of the program would shadow them otherwise). The module's own source (the
//   program's `arguments.callee`) reads up to the marker only, and a function of the test's (as
//   `fn.caller` or a stack frame's function) as native code: the test's text stays unread.
// - Math, JSON, Reflect and the constructors' statics (Array.isArray, Object.keys, ...) are fixed;
//   the test's `require` answers `assert` from the module loaded before the program (the
//   loader's require, resolve and load are fixed); listeners for a process's failure or exit, and
//   process.emit/exitCode/reallyExit, cannot be changed.
// - The nonce goes to fd 3 (the status pipe only the harness reads) only when the test code called
//   its completion with a token nobody else has: a top-level `return` in the program, a throw, or
//   process.exit(0) anywhere before the test's end never gets there.
// - console.assert fails the test (exit 1); console, the assert module and JSON are frozen, and
//   `toJSON` cannot be put on Object.prototype or Array.prototype (it would make every
//   `JSON.stringify(a) === JSON.stringify(b)` hold). `vm`, `v8` and `inspector` (another realm's
//   Function.prototype.toString, heap snapshots) cannot be loaded.
'use strict';
(() => {
  const fs = require('fs');
  const util = require('util');
  const Module = require('module');
  const assert = require('assert');
  const vm = require('vm');
  const crypto = require('crypto');
  const writeSync = fs.writeSync;
  const exit = process.exit.bind(process);
  const apply = Reflect.apply;
  const compile = Module.prototype._compile;
  const load = Module._load;
  const functionToString = Function.prototype.toString;
  const indexOf = String.prototype.indexOf;
  const slice = String.prototype.slice;
  const main = require('path').resolve(process.argv[1]);
  const MARK = '"@sandbox-test@";';
  const fail = (text) => {
    writeSync(2, text + '\n');
    exit(1);
  };
  // stdin: the nonce's line, then the test code.
  const input = fs.readFileSync(0, 'utf8');
  const cut = input.indexOf('\n');
  if (cut < 0) fail('the assertion harness got no nonce on stdin');
  const nonce = input.slice(0, cut);
  const test = input.slice(cut + 1);
  const token = crypto.randomBytes(16).toString('hex');
  const consoleAssert = (value, ...message) => {
    if (!value) fail('Assertion failed' + (message.length ? ': ' + util.format(...message) : ''));
  };
  Object.defineProperty(console, 'assert', { value: consoleAssert, writable: false, configurable: false });
  Object.defineProperty(globalThis, 'console', { value: console, writable: false, configurable: false });
  Object.freeze(assert.strict);
  Object.freeze(assert);
  Object.freeze(JSON);
  Object.defineProperty(globalThis, 'JSON', { value: JSON, writable: false, configurable: false });
  for (const proto of [Object.prototype, Array.prototype]) {
    Object.defineProperty(proto, 'toJSON', { value: undefined, writable: false, configurable: false });
  }
  let hidden = ''; // the test and its wrapper, once composed
  Object.defineProperty(Function.prototype, 'toString', {
    value: function toString() {
      const text = apply(functionToString, this, []);
      const at = apply(indexOf, text, [MARK]);
      if (at >= 0) return apply(slice, text, [0, at]); // the module itself: up to the test
      if (hidden && apply(indexOf, hidden, [text]) >= 0) return 'function () { [native code] }';
      return text;
    },
    writable: false,
    configurable: false,
  });
  // The builtins the test's names and modules mean: the statics are fixed before the program runs
  // (`Math.abs = () => 0` would make every float comparison hold), and the assert module a test
  // requires comes from here, not through a loader or cache the program may have changed.
  // Their existing properties are fixed; they stay extensible (a program's own Math.clamp), and
  // Math.random may still be seeded.
  const statics = [Math, Reflect, Object, Array, Number, String, Boolean, Symbol, BigInt, Set, Map, Date, RegExp, Promise];
  for (const namespace of statics) {
    for (const key of Reflect.ownKeys(namespace)) {
      if (namespace === Math && key === 'random') continue;
      const d = Object.getOwnPropertyDescriptor(namespace, key);
      if (!d.configurable) continue;
      Object.defineProperty(namespace, key, 'value' in d ? { writable: false, configurable: false } : { configurable: false });
    }
  }
  const modules = Object.create(null);
  for (const id of ['assert', 'assert/strict']) {
    modules[id] = modules['node:' + id] = require(id);
  }
  const refused = Object.create(null);
  for (const id of ['vm', 'v8', 'inspector']) refused[id] = refused['node:' + id] = true;
  const builtinId = (request) => (typeof request === 'string' ? request : '');
  Module._load = function (request, ...rest) {
    if (refused[builtinId(request)] === true) {
      throw new Error(`module '${request}' is not available in assertion tests`);
    }
    return apply(load, this, [request, ...rest]);
  };
  for (const [owner, name] of [[Module, '_load'], [Module, '_resolveFilename'], [Module.prototype, 'require'], [Module.prototype, 'load']]) {
    Object.defineProperty(owner, name, { writable: false, configurable: false });
  }
  // A test's asynchronous failure must end the run non-zero: the program may not catch it, nor turn
  // the exit status back into 0 on the way out (an 'exit' listener setting exitCode, reallyExit(0)).
  const guarded = Object.create(null);
  for (const event of ['unhandledRejection', 'uncaughtException', 'uncaughtExceptionMonitor']) guarded[event] = true;
  for (const method of ['on', 'addListener', 'prependListener', 'once', 'prependOnceListener']) {
    const original = process[method];
    Object.defineProperty(process, method, {
      value: function (event, ...rest) {
        if (typeof event === 'string' && guarded[event] === true) throw new Error(`process.${method}('${String(event)}') is not available in assertion tests`);
        return apply(original, this, [event, ...rest]);
      },
      writable: false,
      configurable: false,
    });
  }
  let exitCode = process.exitCode;
  Object.defineProperty(process, 'exitCode', {
    get: () => exitCode,
    set: (value) => {
      if (!exitCode || value) exitCode = value; // once failed, never 0 again
    },
    configurable: false,
  });
  const reallyExit = process.reallyExit;
  Object.defineProperty(process, 'reallyExit', {
    value: (code) => apply(reallyExit, process, [exitCode && !code ? exitCode : code]),
    writable: false,
    configurable: false,
  });
  Object.defineProperty(process, 'emit', { value: process.emit, writable: false, configurable: false });
  Object.defineProperty(process, 'setUncaughtExceptionCaptureCallback', {
    value: () => {
      throw new Error('process.setUncaughtExceptionCaptureCallback is not available in assertion tests');
    },
    writable: false,
    configurable: false,
  });
  for (const name of ['binding', '_linkedBinding']) {
    Object.defineProperty(process, name, {
      value: () => {
        throw new Error(`process.${name} is not available in assertion tests`);
      },
      writable: false,
      configurable: false,
    });
  }

  // What the test's names mean: the genuine objects, whatever the program declared at module level.
  const loaderRequire = Module.createRequire(main);
  const genuine = {
    require: (id) => (typeof id === 'string' && modules[id] !== undefined ? modules[id] : loaderRequire(id)),
    console,
    JSON,
    Math,
    Object,
    Array,
    Number,
    String,
    Boolean,
    Symbol,
    BigInt,
    Set,
    Map,
    Date,
    RegExp,
    Promise,
    Reflect,
    Error,
    TypeError,
    RangeError,
    isNaN,
    isFinite,
    parseInt,
    parseFloat,
    process,
    Buffer,
    globalThis,
    undefined: void 0,
  };
  let finished = false;
  const sandbox = Object.freeze(
    Object.assign(Object.create(null), {
      genuine: Object.freeze(Object.assign(Object.create(null), genuine)),
      finish(given) {
        if (given === token) finished = true;
      },
    })
  );
  const genuineNames = Object.keys(genuine);
  // The test runs as it was written (sloppy unless it says otherwise); its functions' text, which
  // the program could reach as `fn.caller` or a stack frame's function, reads as native code. The
  // names it assigns without declaring (`for (i = 0; ...)`) are declared for it first: as globals
  // they would go through whatever getter or read-only property the program put on globalThis.
  const reserved = new Set(
    ('break case catch class const continue debugger default delete do else export extends finally for ' +
      'function if import in instanceof new return super switch this throw try typeof var void while ' +
      'with yield let static async await of null true false arguments eval').split(' ').concat(genuineNames)
  );
  const undeclared = (code) => {
    const declared = new Set();
    for (const m of code.matchAll(/\b(?:var|let|const|function\*?|class)\s+([A-Za-z_$][\w$]*)/g)) declared.add(m[1]);
    const found = new Set();
    for (const m of code.matchAll(/(?<![\w$.\])'"`])([A-Za-z_$][\w$]*)\s*=(?![=>])/g)) found.add(m[1]);
    for (const m of code.matchAll(/\bfor\s*\(\s*([A-Za-z_$][\w$]*)\s+(?:in|of)\b/g)) found.add(m[1]);
    return [...found].filter((n) => !declared.has(n) && !reserved.has(n));
  };
  const wrap = (declare) =>
    MARK +
    '\n(() => { const { ' +
    genuineNames.join(', ') +
    ' } = this.__sandbox.genuine; const finish = this.__sandbox.finish; (() => {' +
    (declare.length ? ' let ' + declare.join(', ') + ';' : '') +
    '\n' +
    test +
    '\n})(); finish("' +
    token +
    '"); })();\n';

  let done = false;
  Module.prototype._compile = function (content, filename) {
    if (filename !== main || done) return apply(compile, this, [content, filename]);
    done = true;
    // (a `#!` line is read as Node reads it: the wrapper would put it off the start)
    const checked = content.startsWith('#!') ? '//' + content.slice(2) : content;
    const compiles = (wrapped) => {
      try {
        new vm.Script(Module.wrap(checked + '\n;' + wrapped), { filename });
        return null;
      } catch (error) {
        return error;
      }
    };
    let error = compiles((hidden = wrap(undeclared(test))));
    if (error !== null) error = compiles((hidden = wrap([]))); // a declaration the scan missed: as written
    if (error !== null) fail(`the test code does not compile with the program: ${error && error.message}`);
    const source = content + '\n;' + hidden;
    Object.defineProperty(this.exports, '__sandbox', { value: sandbox, writable: false, configurable: false });
    const result = apply(compile, this, [source, filename]);
    if (finished) writeSync(3, nonce + ' ok\n');
    return result;
  };
})();
