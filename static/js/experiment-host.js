/*
 * experiment-host.js: the browser side of experiment_host.
 *
 * The server injects this script (and its JSON config in
 * <script id="experiment-host-config" type="application/json">) into every task page, so a
 * task page never includes it itself. It defines one global, `ExperimentHost`:
 *
 *   Properties (read-only)
 *     config       the parsed config object (null if the page was opened without one)
 *     condition    the condition the server assigned to this run (config.run.condition)
 *     runId        the run's id (config.run.id)
 *     experiment   config.experiment: {slug, title}
 *     nextSeq      the seq the next saved record will get = records produced so far, counting
 *                  those the server holds and those still queued. A task whose records are its
 *                  trials one to one resumes at trial `nextSeq` after a reload.
 *     savedCount   how many records the server holds for this run (last known)
 *     status       a snapshot like the one onChange listeners receive (below)
 *
 *   Methods
 *     save(data)         queue one record (a JSON-serialisable plain object) and return at once.
 *                        Returns a Promise for the record's seq once the server acknowledged it;
 *                        you need not wait for it. The data is serialised immediately, so later
 *                        changes to the object are not saved.
 *     flush()            Promise resolved once every queued record is acknowledged.
 *     complete(options)  Promise: flush, then tell the server the run is complete. Resolves with
 *                        the server's answer {status, completion_code, outcome, done_url}; an
 *                        earlier successful completion counts as success. Calling it again while
 *                        it runs returns the same promise. options.outcome (optional) names how
 *                        the run ended, e.g. {outcome: "screened_out"}: "completed" (the default)
 *                        or an outcome the experiment declares with a Prolific completion code;
 *                        the done page sends a Prolific participant back with that outcome's
 *                        code. The first finish the server accepts wins: later calls, with any
 *                        outcome, get the first answer. An unknown outcome rejects the promise
 *                        (error.code "unknown_outcome") and changes nothing, so the page may
 *                        call it again.
 *     finish(options)    complete(options), then go to the done page (location.assign(done_url)).
 *     loadRecords()      Promise for every record of this run, [{seq, data}] ascending by seq:
 *                        what the server holds plus what is still queued here. For resuming.
 *     onChange(fn)       call fn(status) now and on every change; returns an unsubscribe function.
 *     setBannerEnabled(bool)  turn the default trouble banner off (or on again).
 *
 *   Status object given to onChange listeners (and ExperimentHost.status):
 *     queued        records produced but not yet acknowledged by the server
 *     acknowledged  records the server acknowledged during this page's life
 *     saved         records the server holds for the whole run (last known)
 *     nextSeq       as above
 *     sending       a request with records is in flight
 *     offline       the last attempt to reach the server failed (network error, timeout, 429 or
 *                   5xx); the library keeps retrying with backoff while the page lives
 *     error         null, or {code, message} once something fatal happened (expired or invalid
 *                   token, rejected data, lost records, run already finished, page
 *                   superseded): sending stops and `message` says what the worker should do.
 *                   Two of them also drop the unsent records and refuse later saves:
 *                   `run_finished` and `superseded_token` (see "Page sessions")
 *     completed     the server accepted complete()
 *     durable       queued records are also kept in localStorage (false when storage is denied,
 *                   e.g. in a third-party iframe with third-party cookies blocked)
 *
 * How records travel
 *   Each record gets the next seq and goes into an outbox: memory, mirrored in localStorage
 *   under "experiment-host:outbox:<runId>:<page>:<seq>" when storage is available (one key per
 *   record, so saving stays O(1); <page> is this page's key, config.page). Records are sent in
 *   seq order, in batches of at most 50 records / 60 KB, one request at a time, and removed
 *   from the outbox once acknowledged. Network errors, 429 and 5xx are retried forever with
 *   exponential backoff (0.5 s doubling to 30 s, with jitter); 413 splits the batch. On
 *   beforeunload, pagehide and visibilitychange to hidden, whatever is unacknowledged is also
 *   sent with navigator.sendBeacon (the records stay in the outbox: a beacon is not an
 *   acknowledgement, and the server ignores a seq it already holds). On load, records left in
 *   the outbox by the run's previous page are resent (see "Page sessions").
 *
 * Page sessions
 *   Every page the server serves for a run (a second tab, a reload) gets a fresh page key and
 *   supersedes the run's earlier pages: their requests are refused (401 superseded_token).
 *   A superseded page stops at once: it drops its unsent records, refuses later saves
 *   (their promises reject), ignores the keyboard and mouse, and covers itself with "This
 *   study is open in another window or tab: please continue there". Where localStorage is
 *   shared (a first-party page; not inside MTurk's iframe when third-party storage is
 *   blocked), "experiment-host:page:<runId>" names the run's latest page: a new page writes
 *   it, and an older page that is still open hears it (a `storage` event) and stops before
 *   its next request. On load a page resends only the stored records of the page named there
 *   (the page before it: a reload, a crash, or a tab it now supersedes, whose records up to
 *   this moment continue the run in order), moving them under its own key; records of any
 *   other page were made after it was superseded and are deleted, never sent.
 *
 * No cookies, no headers carrying identity (the token travels in the body or the query, as
 * sendBeacon cannot set headers), no third-party resources.
 */
(function (window, document) {
  'use strict';

  const CONFIG_ELEMENT_ID = 'experiment-host-config';
  const STORAGE_PREFIX = 'experiment-host:outbox:';
  const PAGE_PREFIX = 'experiment-host:page:';
  // Errors after which the unsent records are dropped and later saves refused: the server
  // will never take them from this page.
  const DROPPING_ERRORS = ['run_finished', 'superseded_token'];
  // complete() errors that only mean the page named an outcome the experiment lacks.
  const OUTCOME_ERRORS = ['unknown_outcome', 'invalid_outcome'];
  const BATCH_MAX_RECORDS = 50;
  // Browsers cap the bytes of all pending beacons / keepalive requests at about 64 KB, so a
  // batch must stay below that to be beaconable; the same cap keeps normal requests small.
  const BATCH_MAX_BYTES = 60 * 1024;
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const REQUEST_TIMEOUT_MS = 20000;
  const RECORDS_PAGE_SIZE = 1000;
  // A single failed attempt that is retried half a second later is not worth alarming the
  // worker about; only trouble that lasts this long shows the banner.
  const OFFLINE_BANNER_DELAY_MS = 2000;
  const MAX_COMPLETE_ATTEMPTS = 10;

  const MESSAGES = {
    offline: 'Connection lost — your answers are kept and will be sent when the connection returns.',
    offlineNotDurable:
      'Connection lost — please keep this page open; your answers will be sent when the ' +
      'connection returns.',
    expired: 'Your session has expired — please reload this page.',
    superseded: 'This study is open in another window or tab: please continue there.',
    supersededHint: 'If you closed it, reload this page to continue here.',
    runFinished: 'This task has already been submitted. You can close this page.',
    recordsMissing:
      'Some of your answers did not reach the server. Please contact the researcher and ' +
      'mention this message.',
    noConfig:
      'This page was opened without its experiment host configuration, so answers cannot be ' +
      'saved. Please open the task through its study link.',
    tooLarge: 'One of your answers is too large to be saved. Please contact the researcher.',
    tooFewRecords: 'This task ended before enough of your answers were recorded, so it cannot ' +
      'be submitted. Please contact the researcher and mention this message.',
    rejected: 'Your answers could not be saved because of an error in this page. ' +
      'Please contact the researcher and mention this message.',
  };

  // ---------------------------------------------------------------- storage

  /*
   * localStorage, wrapped: inside a third-party iframe with third-party cookies blocked, Chrome
   * throws on merely reading `window.localStorage`, and any write may hit the quota. Every access
   * is guarded; without storage the outbox lives in memory only.
   */
  const storage = (function () {
    let ls = null;
    try {
      ls = window.localStorage;
      const probe = STORAGE_PREFIX + 'probe';
      ls.setItem(probe, '1');
      ls.removeItem(probe);
    } catch (err) {
      ls = null;
    }
    return {
      get available() {
        return ls !== null;
      },
      set(key, value) {
        if (!ls) return false;
        try {
          ls.setItem(key, value);
          return true;
        } catch (err) {
          return false;
        }
      },
      get(key) {
        if (!ls) return null;
        try {
          return ls.getItem(key);
        } catch (err) {
          return null;
        }
      },
      remove(key) {
        if (!ls) return;
        try {
          ls.removeItem(key);
        } catch (err) {
          // Nothing useful to do: the server ignores a record it already holds.
        }
      },
      keysWithPrefix(prefix) {
        if (!ls) return [];
        const keys = [];
        try {
          for (let i = 0; i < ls.length; i += 1) {
            const key = ls.key(i);
            if (key && key.startsWith(prefix)) keys.push(key);
          }
        } catch (err) {
          return [];
        }
        return keys;
      },
    };
  })();

  // ----------------------------------------------------------------- config

  function readConfig() {
    const element = document.getElementById(CONFIG_ELEMENT_ID);
    if (!element) return null;
    try {
      const config = JSON.parse(element.textContent);
      if (!config || typeof config.token !== 'string' || !config.run) return null;
      return config;
    } catch (err) {
      console.error('experiment-host: the config element does not hold valid JSON', err);
      return null;
    }
  }

  function deepFreeze(value) {
    if (value && typeof value === 'object' && !Object.isFrozen(value)) {
      Object.values(value).forEach(deepFreeze);
      Object.freeze(value);
    }
    return value;
  }

  function nonNegativeInt(value) {
    return Number.isInteger(value) && value >= 0 ? value : 0;
  }

  /** This page's key: the server's (config.page), or a random one for an older server. */
  function pageKeyOf(config) {
    if (config && typeof config.page === 'string' && /^[\w-]+$/.test(config.page)) {
      return config.page;
    }
    return 'local-' + Math.random().toString(36).slice(2) + Date.now().toString(36);
  }

  const config = readConfig();
  const runId = config ? config.run.id : null;
  const apiBase = config ? String(config.api || '/api').replace(/\/+$/, '') : '/api';
  const pageKey = pageKeyOf(config);
  const runPrefix = STORAGE_PREFIX + runId + ':';
  const outboxPrefix = runPrefix + pageKey + ':';
  const latestPageKey = PAGE_PREFIX + runId;

  // ------------------------------------------------------------------ state

  const state = {
    nextSeq: 0,
    saved: 0,
    acknowledged: 0,
    sending: false,
    offline: false,
    offlineSince: 0,
    error: null,
    completed: false,
  };
  /** seq -> {seq, json, bytes}; kept in ascending seq order (insertion order). */
  const outbox = new Map();
  /** seq -> {resolve, reject} for the promises save() handed out in this page life. */
  const ackWaiters = new Map();
  /** Promises waiting for the outbox to empty: [{resolve, reject}]. */
  let flushWaiters = [];
  const listeners = new Set();
  let bannerEnabled = true;
  let consecutiveFailures = 0;
  /** While a complete request is out: the seqs acknowledged meanwhile (see runComplete). */
  let ackedDuringComplete = null;

  function snapshot() {
    return {
      queued: outbox.size,
      acknowledged: state.acknowledged,
      saved: state.saved,
      nextSeq: state.nextSeq,
      sending: state.sending,
      offline: state.offline,
      error: state.error ? { code: state.error.code, message: state.error.message } : null,
      completed: state.completed,
      durable: storage.available,
    };
  }

  function emit() {
    const status = snapshot();
    listeners.forEach(function (listener) {
      try {
        listener(status);
      } catch (err) {
        console.error('experiment-host: an onChange listener threw', err);
      }
    });
    renderBanner(status);
  }

  function hostError(code, message, detail) {
    const error = new Error(message);
    error.code = code;
    if (detail) error.detail = detail;
    return error;
  }

  /** Enter the fatal error state: sending stops, waiters are rejected, the banner explains. */
  function fail(code, message, detail) {
    const error = hostError(code, message, detail);
    if (!state.error) {
      state.error = error;
      console.error('experiment-host: ' + code + ': ' + message, detail || '');
      ackWaiters.forEach(function (waiter) {
        waiter.reject(error);
      });
      ackWaiters.clear();
      settleFlushWaiters();
      stopHeartbeat();
      emit();
    }
    return error;
  }

  /**
   * A later page of this run was served (another tab, a reload elsewhere): stop at once. The
   * server takes nothing more from this page, so its unsent records are dropped, later saves
   * are refused, and the page ignores the keyboard and mouse under its message.
   */
  function supersede(detail) {
    if (!(state.error && state.error.code === 'superseded_token')) {
      state.error = null; // whatever went wrong before, this is why the page stops now
      fail('superseded_token', MESSAGES.superseded, detail);
      dropOutbox();
      blockInput();
      emit();
    }
    return state.error;
  }

  function stopEvent(event) {
    event.stopImmediatePropagation(); // not preventDefault: reloading must still work
  }

  /** Keep the task's own listeners from hearing the worker: capture on window runs first. */
  function blockInput() {
    ['keydown', 'keyup', 'keypress', 'pointerdown', 'pointerup', 'mousedown', 'mouseup',
      'click', 'touchstart', 'touchend'].forEach(function (type) {
      window.addEventListener(type, stopEvent, true);
    });
  }

  /** True once the server will never take this page's records (see DROPPING_ERRORS). */
  function dropping() {
    return Boolean(state.error && DROPPING_ERRORS.indexOf(state.error.code) >= 0);
  }

  function errorFromResponse(response) {
    const body = response.body || {};
    const code = typeof body.error === 'string' ? body.error : 'http_' + response.status;
    if (code === 'superseded_token') return supersede(body.message);
    if (response.status === 401) return fail(code, MESSAGES.expired, body.message);
    if (code === 'run_finished') return fail(code, MESSAGES.runFinished, body.message);
    if (code === 'too_few_records') return fail(code, MESSAGES.tooFewRecords, body.message);
    return fail(code, MESSAGES.rejected + ' (' + code + ')', body.message);
  }

  function markReachable() {
    consecutiveFailures = 0;
    if (state.offline) {
      state.offline = false;
      emit();
    }
  }

  function markUnreachable() {
    consecutiveFailures += 1;
    if (!state.offline) {
      state.offline = true;
      state.offlineSince = Date.now();
      // Re-render once the delay has passed, in case nothing else changes meanwhile.
      window.setTimeout(emit, OFFLINE_BANNER_DELAY_MS + 50);
      emit();
    }
  }

  // ------------------------------------------------------------------ outbox

  function storageKey(seq) {
    return outboxPrefix + seq;
  }

  function utf8Length(text) {
    return new TextEncoder().encode(text).length;
  }

  /** Serialise data as a JSON object; tolerate cycles and BigInt rather than lose the record. */
  function toJson(data) {
    let json;
    try {
      json = JSON.stringify(data);
    } catch (err) {
      const seen = new WeakSet();
      json = JSON.stringify(data, function (key, value) {
        if (typeof value === 'bigint') return value.toString();
        if (value && typeof value === 'object') {
          if (seen.has(value)) return '[circular]';
          seen.add(value);
        }
        return value;
      });
    }
    if (typeof json !== 'string' || json.charAt(0) !== '{') {
      throw new TypeError('ExperimentHost.save(data) needs a plain object');
    }
    return json;
  }

  function addToOutbox(seq, json) {
    outbox.set(seq, { seq: seq, json: json, bytes: utf8Length(json) });
  }

  function acknowledge(batch, body) {
    batch.forEach(function (record) {
      outbox.delete(record.seq);
      storage.remove(storageKey(record.seq));
      if (ackedDuringComplete) ackedDuringComplete.add(record.seq);
      const waiter = ackWaiters.get(record.seq);
      if (waiter) {
        ackWaiters.delete(record.seq);
        waiter.resolve(record.seq);
      }
    });
    state.acknowledged += batch.length;
    if (body && Number.isInteger(body.saved)) state.saved = Math.max(state.saved, body.saved);
  }

  /**
   * Take over, in seq order and under this page's key, the records the run's previous page
   * left in storage (the page named under latestPageKey; pages from before page keys stored
   * theirs without one); delete those of every other page, which were made after it was
   * superseded. Then name this page as the run's latest. Returns one past the highest seq
   * taken over (0 if none).
   */
  function restoreOutbox(serverNextSeq, serverHoldsEverySeqBelowNext) {
    const previous = storage.get(latestPageKey) || '';
    const restored = [];
    const stale = [];
    storage.keysWithPrefix(runPrefix).forEach(function (key) {
      const parts = key.slice(runPrefix.length).split(':');
      const page = parts.length === 2 ? parts[0] : '';
      const seq = Number(parts[parts.length - 1]);
      const json = storage.get(key);
      stale.push(key);
      if (page !== previous || parts.length > 2 || !Number.isInteger(seq) || seq < 0 ||
          json === null) return;
      // Acknowledged in the earlier life but removed too late (the page went away first).
      if (serverHoldsEverySeqBelowNext && seq < serverNextSeq) return;
      restored.push({ seq: seq, json: json });
    });
    restored.sort(function (a, b) {
      return a.seq - b.seq;
    });
    restored.forEach(function (record) {
      addToOutbox(record.seq, record.json);
      storage.set(storageKey(record.seq), record.json); // before the old key goes
    });
    stale.forEach(storage.remove);
    storage.set(latestPageKey, pageKey);
    return restored.length ? restored[restored.length - 1].seq + 1 : 0;
  }

  /** Forget this page's unsent records: the server will not take them from it. */
  function dropOutbox() {
    outbox.clear();
    storage.keysWithPrefix(outboxPrefix).forEach(storage.remove);
  }

  /** Forget every stored record of the run (it is finished). */
  function clearStoredOutbox() {
    storage.keysWithPrefix(runPrefix).forEach(storage.remove);
  }

  /** True if storage names a later page of this run (a storage event may not have come yet). */
  function laterPageOpened() {
    const latest = storage.get(latestPageKey);
    return latest !== null && latest !== pageKey;
  }

  /** Take records in seq order, at most maxRecords and (except the first) maxBytes of body. */
  function takeBatch(records, maxRecords) {
    const batch = [];
    let bytes = 64 + config.token.length;
    for (const record of records) {
      const recordBytes = record.bytes + 24;
      if (batch.length > 0 && (batch.length >= maxRecords || bytes + recordBytes > BATCH_MAX_BYTES)) {
        break;
      }
      batch.push(record);
      bytes += recordBytes;
    }
    return batch;
  }

  /** The request body, built from the stored JSON strings so nothing is serialised twice. */
  function recordsBody(batch) {
    const parts = batch.map(function (record) {
      return '{"seq":' + record.seq + ',"data":' + record.json + '}';
    });
    return '{"token":' + JSON.stringify(config.token) + ',"records":[' + parts.join(',') + ']}';
  }

  // ---------------------------------------------------------------- network

  /**
   * One request. Resolves with {ok, status, body, retryAfterMs} for any HTTP answer; rejects
   * (with the fetch error) on network failure or timeout.
   */
  async function request(method, path, body) {
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = controller
      ? window.setTimeout(function () {
        controller.abort();
      }, REQUEST_TIMEOUT_MS)
      : null;
    try {
      const init = {
        method: method,
        credentials: 'omit',
        cache: 'no-store',
        signal: controller ? controller.signal : undefined,
      };
      if (body !== undefined) {
        init.body = body;
        init.headers = { 'Content-Type': 'application/json' };
      }
      const response = await window.fetch(apiBase + path, init);
      let parsed = null;
      try {
        parsed = await response.json();
      } catch (err) {
        parsed = null; // e.g. a proxy's HTML error page
      }
      const retryAfter = Number(response.headers.get('Retry-After'));
      return {
        ok: response.ok,
        status: response.status,
        body: parsed,
        retryAfterMs: retryAfter > 0 ? retryAfter * 1000 : 0,
      };
    } finally {
      if (timer !== null) window.clearTimeout(timer);
    }
  }

  function isRetryable(response) {
    return response.status === 408 || response.status === 429 || response.status >= 500;
  }

  /** Pending backoff waits (the sender's and complete()'s can overlap); `online` ends them. */
  const backoffWakers = new Set();

  /** Wait before the next attempt: 0.5 s doubling to 30 s, jittered; `online` cuts it short. */
  function backoff(retryAfterMs) {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, consecutiveFailures - 1));
    // "Equal jitter": at least half the delay, so retries spread out but never hammer.
    let delay = ceiling / 2 + Math.random() * (ceiling / 2);
    if (retryAfterMs) delay = Math.max(delay, Math.min(retryAfterMs, BACKOFF_MAX_MS));
    return new Promise(function (resolve) {
      const timer = window.setTimeout(done, delay);
      function done() {
        window.clearTimeout(timer);
        backoffWakers.delete(done);
        resolve();
      }
      backoffWakers.add(done);
    });
  }

  /**
   * A request retried (forever, while the page lives) on network errors, 408, 429 and 5xx.
   * Resolves with the first other answer, successful or not.
   */
  async function requestWithRetry(method, path, body) {
    for (;;) {
      let response;
      try {
        response = await request(method, path, body);
      } catch (err) {
        response = null;
      }
      if (response && !isRetryable(response)) {
        markReachable();
        return response;
      }
      markUnreachable();
      await backoff(response ? response.retryAfterMs : 0);
    }
  }

  // ----------------------------------------------------------------- sender

  let pumping = false;

  function canSend() {
    return config !== null && !state.error && !state.completed;
  }

  /** Send the outbox in order, one request at a time, until it is empty or sending must stop. */
  async function pump() {
    if (pumping) return;
    pumping = true;
    // Lowered by a 413 and kept low for the rest of this round: the server's limit won't grow.
    let maxRecords = BATCH_MAX_RECORDS;
    try {
      while (outbox.size > 0 && canSend()) {
        const batch = takeBatch(outbox.values(), maxRecords);
        state.sending = true;
        emit();
        let response = null;
        try {
          response = await request('POST', '/records', recordsBody(batch));
        } catch (err) {
          response = null;
        }
        state.sending = false;
        if (response && response.ok) {
          markReachable();
          acknowledge(batch, response.body);
          emit();
        } else if (response && response.status === 413) {
          markReachable();
          if (batch.length === 1) {
            fail('record_too_large', MESSAGES.tooLarge, { seq: batch[0].seq });
          } else {
            maxRecords = Math.max(1, Math.floor(batch.length / 2));
          }
        } else if (!response || isRetryable(response)) {
          markUnreachable();
          await backoff(response ? response.retryAfterMs : 0);
        } else if (response.body && response.body.error === 'run_finished') {
          // The server will never take these records: the run was completed (in another tab, or
          // before a reload). Drop them so complete() can find out and move on.
          console.warn('experiment-host: the run is already finished; dropping unsent records');
          outbox.clear();
          clearStoredOutbox();
          errorFromResponse(response);
        } else {
          errorFromResponse(response);
        }
      }
    } finally {
      pumping = false;
      state.sending = false;
      settleFlushWaiters();
      emit();
    }
  }

  function settleFlushWaiters() {
    if (outbox.size > 0 && !state.error) return;
    const waiters = flushWaiters;
    flushWaiters = [];
    waiters.forEach(function (waiter) {
      if (outbox.size === 0) waiter.resolve();
      else waiter.reject(state.error);
    });
  }

  function flush() {
    if (!config) return Promise.reject(state.error);
    if (outbox.size === 0) return Promise.resolve();
    if (state.error) return Promise.reject(state.error);
    return new Promise(function (resolve, reject) {
      flushWaiters.push({ resolve: resolve, reject: reject });
      pump();
    });
  }

  /** Hand everything unacknowledged to sendBeacon, which survives the page going away. */
  function beaconOutbox() {
    if (outbox.size === 0 || !canSend() || typeof navigator.sendBeacon !== 'function') return;
    const records = Array.from(outbox.values());
    let start = 0;
    while (start < records.length) {
      const batch = takeBatch(records.slice(start), BATCH_MAX_RECORDS);
      const blob = new Blob([recordsBody(batch)], { type: 'application/json' });
      let queued = false;
      try {
        queued = navigator.sendBeacon(apiBase + '/records', blob);
      } catch (err) {
        queued = false;
      }
      // false = the browser's beacon quota is used up; the rest stays in the outbox for the
      // next life of the page (or for this one, if it comes back).
      if (!queued) break;
      start += batch.length;
    }
  }

  // -------------------------------------------------------------- heartbeat

  let heartbeatTimer = null;

  function startHeartbeat() {
    const seconds = Number(config.heartbeat_seconds);
    if (!(seconds > 0)) return;
    heartbeatTimer = window.setInterval(sendHeartbeat, seconds * 1000);
  }

  function stopHeartbeat() {
    if (heartbeatTimer !== null) window.clearInterval(heartbeatTimer);
    heartbeatTimer = null;
  }

  async function sendHeartbeat() {
    if (!canSend()) return;
    let response;
    try {
      response = await request('POST', '/heartbeat', JSON.stringify({ token: config.token }));
    } catch (err) {
      return; // connection trouble shows up through the record sender
    }
    if (response.ok) {
      markReachable();
      if (response.body && Number.isInteger(response.body.saved)) {
        state.saved = Math.max(state.saved, response.body.saved);
        emit();
      }
    } else if (response.status === 401) {
      errorFromResponse(response);
    } else if (response.status === 409) {
      stopHeartbeat();
    }
  }

  // --------------------------------------------------------------- complete

  let completing = null;
  let completedAnswer = null;
  let finishing = null;

  function markCompleted(answer) {
    completedAnswer = Object.assign({ status: 'completed' }, answer);
    if (!completedAnswer.done_url) completedAnswer.done_url = config.done_url;
    state.completed = true;
    // A run_finished error met on the way does not matter any more.
    state.error = null;
    stopHeartbeat();
    clearStoredOutbox();
    emit();
    return completedAnswer;
  }

  async function runComplete(outcome) {
    for (let attempt = 0; attempt < MAX_COMPLETE_ATTEMPTS; attempt += 1) {
      if (!(state.error && state.error.code === 'run_finished')) await flush();
      const request = { token: config.token, total: state.nextSeq };
      if (outcome !== undefined) request.outcome = outcome;
      const body = JSON.stringify(request);
      const acked = new Set();
      ackedDuringComplete = acked;
      let response;
      try {
        response = await requestWithRetry('POST', '/complete', body);
      } finally {
        ackedDuringComplete = null;
      }
      const answer = response.body || {};
      if (response.ok) return markCompleted(answer);
      if (response.status === 409 && answer.error === 'already_completed') {
        // An earlier attempt (a lost answer, another tab) completed the run: that is success.
        return markCompleted({ done_url: answer.done_url, already_completed: true,
          outcome: answer.outcome, completion_code: answer.completion_code });
      }
      if (response.status === 400 && OUTCOME_ERRORS.indexOf(answer.error) >= 0) {
        // A mistake in the page's call, not in the data: nothing changed, saving goes on.
        console.error('experiment-host: ' + answer.message);
        throw hostError(answer.error, answer.message);
      }
      if (response.status === 409 && answer.error === 'records_missing') {
        const missing = Array.isArray(answer.missing) ? answer.missing : [];
        // Only records saved while complete() was on its way can be missing and still be here
        // (queued, or acknowledged since the request left: then the next attempt finds them).
        // Anything else the server lacks was lost with an earlier page that had no storage.
        const lost = missing.filter(function (seq) {
          return !outbox.has(seq) && !acked.has(seq);
        });
        if (lost.length > 0) {
          throw fail('records_missing', MESSAGES.recordsMissing, { missing: lost });
        }
        continue;
      }
      throw errorFromResponse(response);
    }
    throw fail('records_missing', MESSAGES.recordsMissing);
  }

  function outcomeOf(options) {
    if (options === undefined || options === null) return undefined;
    if (typeof options !== 'object' || (options.outcome !== undefined &&
        typeof options.outcome !== 'string')) {
      throw new TypeError('ExperimentHost.finish(options): options.outcome must be a string');
    }
    return options.outcome;
  }

  function complete(options) {
    const outcome = outcomeOf(options);
    if (completedAnswer) return Promise.resolve(completedAnswer);
    if (!config) return Promise.reject(state.error);
    if (state.error && state.error.code === 'superseded_token') return Promise.reject(state.error);
    if (!completing) {
      completing = runComplete(outcome).then(
        function (answer) {
          completing = null;
          return answer;
        },
        function (err) {
          completing = null; // let a later click try again
          throw err;
        }
      );
    }
    return completing;
  }

  function finish(options) {
    if (!finishing) {
      finishing = complete(options).then(
        function (answer) {
          const url = answer.done_url || config.done_url;
          if (url) window.location.assign(url);
          return answer;
        },
        function (err) {
          finishing = null;
          throw err;
        }
      );
    }
    return finishing;
  }

  // ------------------------------------------------------------------- save

  function save(data) {
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      throw new TypeError('ExperimentHost.save(data) needs a plain object');
    }
    if (state.completed) {
      console.warn('experiment-host: the run is complete; a record saved after it is ignored');
      return Promise.resolve(null);
    }
    if (config && !dropping() && laterPageOpened()) supersede();
    if (dropping()) {
      const refused = Promise.reject(state.error);
      refused.catch(function () {});
      return refused;
    }
    const json = toJson(data);
    const seq = state.nextSeq;
    state.nextSeq += 1;
    addToOutbox(seq, json);
    if (config) storage.set(storageKey(seq), json);
    const acknowledged = new Promise(function (resolve, reject) {
      if (state.error) reject(state.error);
      else ackWaiters.set(seq, { resolve: resolve, reject: reject });
    });
    // Callers may ignore the promise; do not report that as an unhandled rejection.
    acknowledged.catch(function () {});
    emit();
    if (canSend()) pump();
    return acknowledged;
  }

  // ------------------------------------------------------------ loadRecords

  /** Every record of this run: the server's (paged) plus those still queued here. */
  async function loadRecords() {
    if (!config) throw state.error;
    const bySeq = new Map();
    if (state.saved > 0) {
      let after = null;
      for (;;) {
        let query = '?token=' + encodeURIComponent(config.token) + '&limit=' + RECORDS_PAGE_SIZE;
        if (after !== null) query += '&after=' + after;
        const response = await requestWithRetry('GET', '/records' + query);
        if (!response.ok) throw errorFromResponse(response);
        const records = (response.body && response.body.records) || [];
        records.forEach(function (record) {
          bySeq.set(record.seq, record.data);
        });
        if (records.length === 0) break;
        after = records[records.length - 1].seq;
        const serverNext = response.body.next_seq;
        if (!Number.isInteger(serverNext) || after + 1 >= serverNext) break;
      }
    }
    outbox.forEach(function (record) {
      if (!bySeq.has(record.seq)) bySeq.set(record.seq, JSON.parse(record.json));
    });
    return Array.from(bySeq.keys())
      .sort(function (a, b) {
        return a - b;
      })
      .map(function (seq) {
        return { seq: seq, data: bySeq.get(seq) };
      });
  }

  // ----------------------------------------------------------------- banner

  let bannerElement = null;

  function bannerContent(status) {
    if (status.error && status.error.code === 'superseded_token') {
      return { text: status.error.message, hint: MESSAGES.supersededHint, kind: 'error',
        reload: false, cover: true };
    }
    if (status.error) {
      const expired = status.error.code === 'invalid_token' || status.error.code === 'expired_token';
      return { text: status.error.message, kind: 'error', reload: expired };
    }
    if (status.offline && !status.completed &&
        Date.now() - state.offlineSince >= OFFLINE_BANNER_DELAY_MS) {
      return {
        text: status.durable ? MESSAGES.offline : MESSAGES.offlineNotDurable,
        kind: 'offline',
        reload: false,
      };
    }
    return null;
  }

  function buildBanner() {
    const element = document.createElement('div');
    element.id = 'experiment-host-banner';
    element.className = 'experiment-host-banner';
    element.setAttribute('data-testid', 'experiment-host-banner');
    element.setAttribute('aria-live', 'assertive');
    // Styled through the CSSOM, which a Content-Security-Policy without 'unsafe-inline' allows.
    Object.assign(element.style, {
      position: 'fixed',
      top: '0',
      left: '0',
      right: '0',
      zIndex: '2147483647',
      padding: '0.75em 1em',
      font: '16px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
      color: '#fff',
      textAlign: 'center',
      boxShadow: '0 2px 6px rgba(0, 0, 0, 0.3)',
    });
    return element;
  }

  function renderBanner(status) {
    // A superseded page is covered even if the task shows its own status instead.
    const own = bannerContent(status);
    const content = bannerEnabled || (own && own.cover) ? own : null;
    if (!content) {
      if (bannerElement) bannerElement.hidden = true;
      return;
    }
    if (!document.body) {
      document.addEventListener('DOMContentLoaded', emit, { once: true });
      return;
    }
    if (!bannerElement) bannerElement = buildBanner();
    if (!bannerElement.isConnected) document.body.appendChild(bannerElement);
    bannerElement.setAttribute('role', content.kind === 'error' ? 'alert' : 'status');
    bannerElement.setAttribute('data-kind', content.kind);
    bannerElement.style.background = content.kind === 'error' ? '#a4161a' : '#7a4b00';
    bannerElement.replaceChildren(document.createTextNode(content.text));
    if (content.cover) {
      // The whole page: nothing of the task can be seen or clicked any more.
      Object.assign(bannerElement.style, { bottom: '0', paddingTop: '30vh', fontSize: '20px' });
      const hint = document.createElement('p');
      hint.textContent = content.hint;
      hint.style.fontSize = '16px';
      bannerElement.appendChild(hint);
    }
    if (content.reload) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = 'Reload';
      button.style.marginLeft = '1em';
      button.addEventListener('click', function () {
        window.location.reload();
      });
      bannerElement.appendChild(button);
    }
    bannerElement.hidden = false;
  }

  // ------------------------------------------------------------------- init

  function initialise() {
    if (!config) {
      state.error = hostError('no_config', MESSAGES.noConfig);
      console.error('experiment-host: no #' + CONFIG_ELEMENT_ID + ' config element');
      emit();
      return;
    }
    const serverNextSeq = nonNegativeInt(config.run.next_seq);
    state.saved = nonNegativeInt(config.run.saved);
    // seqs are distinct non-negative integers, so "count == max + 1" means no gaps.
    const serverHoldsAll = state.saved === serverNextSeq;
    const outboxNextSeq = restoreOutbox(serverNextSeq, serverHoldsAll);
    state.nextSeq = Math.max(serverNextSeq, outboxNextSeq);

    // beforeunload too: on a reload it comes before the new page is requested, and serving
    // that page supersedes this one (pagehide comes after: its beacon would be refused).
    window.addEventListener('beforeunload', beaconOutbox);
    window.addEventListener('pagehide', beaconOutbox);
    // Another page of this run named itself the latest: this one is superseded.
    window.addEventListener('storage', function (event) {
      if (event.key === latestPageKey && event.newValue && event.newValue !== pageKey) {
        supersede();
      }
    });
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'hidden') beaconOutbox();
    });
    window.addEventListener('online', function () {
      Array.from(backoffWakers).forEach(function (wake) {
        wake();
      });
    });
    window.addEventListener('offline', markUnreachable);
    // Coming back from the back/forward cache: timers resume, but an aborted send may not.
    window.addEventListener('pageshow', function (event) {
      if (event.persisted) pump();
    });
    startHeartbeat();
    pump();
  }

  initialise();

  const ExperimentHost = {
    get config() {
      return config;
    },
    get condition() {
      return config && config.run.condition !== undefined ? config.run.condition : null;
    },
    get runId() {
      return runId;
    },
    get experiment() {
      return config ? config.experiment || null : null;
    },
    get nextSeq() {
      return state.nextSeq;
    },
    get savedCount() {
      return state.saved;
    },
    get status() {
      return snapshot();
    },
    save: save,
    flush: flush,
    complete: complete,
    finish: finish,
    loadRecords: loadRecords,
    onChange: function (listener) {
      listeners.add(listener);
      listener(snapshot());
      return function unsubscribe() {
        listeners.delete(listener);
      };
    },
    setBannerEnabled: function (enabled) {
      bannerEnabled = Boolean(enabled);
      renderBanner(snapshot());
    },
  };

  deepFreeze(config);
  window.ExperimentHost = Object.freeze(ExperimentHost);
})(window, document);
