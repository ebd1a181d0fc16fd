"""The JavaScript side of the function node: the harness evaluated in every sandbox.

It gives the code Node-RED's API (`node`, `context`/`flow`/`global`, `env`, `RED.util`,
`console`, timers) without any call into Python: what the code does is recorded as events
and read back after each call (QuickJS refuses Python callbacks while a time limit is set).
`ENTRIES` are the functions Python calls; `runtime.nodes.function` drives them.
"""

from __future__ import annotations

HARNESS = r"""
(function () {
  'use strict';
  var g = globalThis, LIMIT = 10000, MAX_TIMERS = 1000;
  var events = [], data = {node: {}, flow: {}, global: {}}, orig = {};
  // Scopes to compare at the end of a round: those the code touched in it, and those
  // it ever got an object from or put one into (it may hold and change it later).
  var touched = {}, leaked = {};
  var fns = {}, timers = {}, timerCount = 0, nextTimer = 1, closers = [], env = {};
  var self = {id: '', name: '', outputs: 1}, usesNode = true;
  // Events are kept as JSON texts; `emitWith` appends a value that is already JSON, so
  // messages cross to Python parsed once, not as strings inside strings.
  function emitWith(e, raw, force) {
    if (!force && events.length >= LIMIT) {
      throw new RangeError('too many sends, logs and timers in one call (limit ' + LIMIT + ')');
    }
    var t = JSON.stringify(e);
    events.push(raw === undefined ? t : t.slice(0, -1) + ',' + raw + ']');
  }
  function emit(e, force) { emitWith(e, undefined, force); }
  function json(v) { var t = JSON.stringify(v); return t === undefined ? 'null' : t; }
  function text(v) {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return String(v);
    try { var t = JSON.stringify(v); return t === undefined ? String(v) : t; }
    catch (e) { return String(v); }
  }
  function describe(e) {
    if (!(e instanceof Error)) return text(e);
    var stack = String(e.stack || '');
    // Like Node-RED, a thrown error names its line only when it is a ReferenceError (and
    // here when a sandbox limit stopped the code, or the code does not compile).
    var m = /^(Reference|Internal)Error$/.test(e.name)
      ? /at __(?:func|initialize|finalize) \(<input>:(\d+)\)/.exec(stack) : null;
    if (!m && e instanceof SyntaxError) m = /^\s*at <input>:(\d+)/.exec(stack);
    return String(e) + (m ? ' (line ' + (m[1] - 1) + ')' : '');
  }
  function parts(path) {
    path = String(path);
    if (path.indexOf('.') < 0 && path.indexOf('[') < 0) return path === '' ? [] : [path];
    return String(path).replace(/\[["']([^"'\]]*)["']\]/g, '.$1').replace(/\[(\d+)\]/g, '.$1')
      .split('.').filter(function (p) { return p !== ''; });
  }
  function getPath(obj, path) {
    var ps = parts(path);
    for (var i = 0; i < ps.length; i++) {
      if (obj === null || obj === undefined) return undefined;
      obj = obj[ps[i]];
    }
    return obj;
  }
  function setPath(obj, path, value) {
    var ps = parts(path);
    if (!ps.length) return;
    for (var i = 0; i < ps.length - 1; i++) {
      if (obj[ps[i]] === null || typeof obj[ps[i]] !== 'object') {
        obj[ps[i]] = /^\d+$/.test(ps[i + 1]) ? [] : {};
      }
      obj = obj[ps[i]];
    }
    if (value === undefined) delete obj[ps[ps.length - 1]]; else obj[ps[ps.length - 1]] = value;
  }
  function scope(name) {
    function cbOf(a, b) {
      return typeof a === 'function' ? a : (typeof b === 'function' ? b : null);
    }
    return {
      get: function (key, store, cb) {
        cb = cbOf(store, cb);
        var many = Array.isArray(key);
        var vals = (many ? key : [key]).map(function (k) { return getPath(data[name], k); });
        vals.forEach(function (v) { if (v !== null && typeof v === 'object') leaked[name] = 1; });
        if (cb) { cb.apply(null, [null].concat(vals)); return undefined; }
        return many ? vals : vals[0];
      },
      set: function (key, value, store, cb) {
        cb = cbOf(store, cb);
        touched[name] = 1;
        if (value !== null && typeof value === 'object') leaked[name] = 1;  // kept by reference
        var keys = Array.isArray(key) ? key : [key], vals = Array.isArray(key) ? value : [value];
        keys.forEach(function (k, i) {
          var v = vals === undefined || vals === null ? undefined : vals[i];
          setPath(data[name], k, v === null && parts(k).length === 1 ? undefined : v);
        });
        if (cb) cb(null);
      },
      keys: function (store, cb) {
        cb = cbOf(store, cb);
        var k = Object.keys(data[name]);
        if (cb) { cb(null, k); return undefined; }
        return k;
      }
    };
  }
  // Python sends only the scopes that changed outside the sandbox since the last round;
  // the others are still here as the code left them.
  function load(raw) {
    var all = JSON.parse(raw);
    for (var name in all) {
      data[name] = {}; orig[name] = {}; leaked[name] = 0;
      for (var k in all[name]) {
        data[name][k] = JSON.parse(all[name][k]);
        orig[name][k] = JSON.stringify(data[name][k]);
      }
    }
  }
  function changes() {
    var out = {};
    ['node', 'flow', 'global'].forEach(function (name) {
      if (!touched[name] && !leaked[name]) return;
      var now = data[name], before = orig[name], diff = {}, k, t;
      for (k in now) {
        try { t = JSON.stringify(now[k]); } catch (e) { continue; }
        if (t !== undefined && t !== before[k]) { diff[k] = t; before[k] = t; }
      }
      for (k in before) if (!(k in now)) { diff[k] = null; delete before[k]; }
      out[name] = diff;
    });
    touched = {};
    return out;
  }
  function collect() {
    var ev = events;
    events = [];
    return '{"events":[' + ev.join(',') + '],"changes":' + JSON.stringify(changes()) + '}';
  }
  function makeNode(callId, msgid) {
    return {
      id: self.id, name: self.name, outputCount: self.outputs,
      send: function (msgs) {
        emitWith(['send', msgid], json(msgs === undefined ? null : msgs));
      },
      done: function (err) {
        emit(['done', callId, err === undefined || err === null ? null : describe(err)], true);
      },
      warn: function (m) { emit(['log', 'warn', text(m)]); },
      log: function (m) { emit(['log', 'info', text(m)]); },
      error: function (m, msg) { emitWith(['catch', describe(m)], msg ? json(msg) : 'null'); },
      status: function (s) {
        if (s === null || typeof s !== 'object') s = {text: s};
        emit(['status', {
          fill: typeof s.fill === 'string' ? s.fill : undefined,
          shape: typeof s.shape === 'string' ? s.shape : undefined,
          text: s.text === undefined || s.text === null ? undefined : text(s.text)}]);
      },
      on: function (ev, fn) { if (ev === 'close' && typeof fn === 'function') closers.push(fn); }
    };
  }
  function settle(p, ok, fail) {
    p.then(function (r) { try { ok(r); } catch (e) { fail(e); } }, fail);
  }
  function addTimer(fn, ms, args, repeat) {
    if (typeof fn !== 'function') throw new TypeError('the timer callback is not a function');
    if (timerCount >= MAX_TIMERS) throw new RangeError('too many timers (' + MAX_TIMERS + ')');
    var id = nextTimer++;
    ms = Math.max(0, Number(ms) || 0);
    timers[id] = {fn: fn, args: args, ms: ms, repeat: repeat};
    timerCount++;
    emit(['timer', id, ms], true);
    return id;
  }
  function clearTimer(id) {
    if (timers[id]) { delete timers[id]; timerCount--; emit(['clear', id], true); }
  }
  function logTo(level) { return function () {
    emit(['log', level, Array.prototype.map.call(arguments, text).join(' ')]);
  }; }
  g.context = scope('node'); g.flow = scope('flow'); g.global = scope('global');
  g.context.flow = g.flow; g.context.global = g.global;
  g.env = {get: function (n) {
    return Object.prototype.hasOwnProperty.call(env, n) ? env[n] : undefined;
  }};
  g.RED = {util: {
    cloneMessage: function (m) {
      return m === undefined ? undefined : JSON.parse(JSON.stringify(m));
    },
    getMessageProperty: function (m, p) { return getPath(m, String(p).replace(/^msg\./, '')); },
    setMessageProperty: function (m, p, v) { setPath(m, String(p).replace(/^msg\./, ''), v); }
  }};
  g.console = {log: logTo('info'), info: logTo('info'), warn: logTo('warn'), error: logTo('error')};
  g.setTimeout = function (fn, ms) { return addTimer(fn, ms, [].slice.call(arguments, 2), false); };
  g.setInterval = function (fn, ms) { return addTimer(fn, ms, [].slice.call(arguments, 2), true); };
  g.clearTimeout = g.clearInterval = clearTimer;
  g.__plumb = {
    setup: function (raw) { var cfg = JSON.parse(raw); self = cfg.node; env = cfg.env; },
    // A body without `await` runs as a plain function, so its result is there when the
    // call returns (one crossing per message); a returned promise is still awaited.
    compile: function (kind, src, sync) {
      if (kind === 'func') usesNode = /\bnode\b/.test(src);
      try {
        fns[kind] = (0, eval)('(' + (sync ? '' : 'async ') + 'function __' + kind +
                              '(msg, node) {\n' + src + '\n})');
        return null;
      } catch (e) { return describe(e); }
    },
    input: function (scopes, callId, msgid, raw) {
      load(scopes);
      function ok(r) {
        emitWith(['result', callId, msgid], json(r === undefined ? null : r), true);
      }
      function fail(e) { emit(['error', callId, describe(e)], true); }
      var r;
      // A body that never names `node` gets none made for it (it is a dozen closures).
      try { r = fns.func(JSON.parse(raw), usesNode ? makeNode(callId, msgid) : undefined); }
      catch (e) { fail(e); return collect(); }
      if (r !== null && typeof r === 'object' && typeof r.then === 'function') {
        settle(r, ok, fail);
      } else {
        try { ok(r); } catch (e) { fail(e); }
      }
      return collect();
    },
    fire: function (scopes, id) {
      load(scopes);
      var t = timers[id];
      if (!t) return;
      if (t.repeat) emit(['timer', id, t.ms], true); else { delete timers[id]; timerCount--; }
      try {
        var r = t.fn.apply(null, t.args);
        if (r && typeof r.then === 'function') {
          r.then(null, function (e) { emit(['fail', describe(e)], true); });
        }
      } catch (e) { emit(['fail', describe(e)], true); }
    },
    init: function (scopes) {
      load(scopes);
      settle(fns.initialize(undefined, makeNode(null, null)),
             function () { emit(['ready', null], true); },
             function (e) { emit(['ready', describe(e)], true); });
    },
    close: function (scopes) {
      load(scopes);
      closers.forEach(function (fn) {
        try { fn(); }
        catch (e) { emit(['log', 'error', 'close handler failed: ' + describe(e)], true); }
      });
      if (fns.finalize) {
        settle(fns.finalize(undefined, makeNode(null, null)), function () {},
               function (e) { emit(['log', 'error', 'finalize failed: ' + describe(e)], true); });
      }
    },
    collect: collect
  };
})();
"""
ENTRIES = ("setup", "compile", "input", "fire", "init", "close", "collect")
