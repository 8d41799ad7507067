/*
 * experiment-host-jspsych.js: runs a standard jsPsych (7 or 8) experiment on experiment_host.
 *
 * Load it after jsPsych's own script and its plugins, and before the experiment's script:
 *
 *   <script src="/vendor/jspsych/dist/index.browser.min.js"></script>
 *   <script src="/vendor/@jspsych/plugin-html-keyboard-response/dist/index.browser.min.js"></script>
 *   <script src="/static/js/experiment-host-jspsych.js"></script>
 *   <script src="experiment.js"></script>
 *
 * (experiment-host.js itself is injected by the server at the top of <head>.) The experiment
 * stays plain jsPsych: `const jsPsych = initJsPsych({...}); jsPsych.run(timeline);`. This file
 * replaces the global initJsPsych with a wrapper that
 *
 *   - saves every trial's data with ExperimentHost.save() from on_data_update (jsPsych's data
 *     object as it is at the end of the trial, after the trial's own on_finish), then calls the
 *     experiment's own on_data_update, if any;
 *   - saves what jsPsych.data.addProperties(...) adds, whenever it is called (in the
 *     experiment's own on_finish too, a common place for totals or a debrief score), as a
 *     properties record `{trial_type: "experiment-host-properties", properties: {...}}`.
 *     jsPsych adds such properties to every trial, earlier ones included; trials are saved
 *     as they end, so the export does the same: trials.csv shows the run's properties on
 *     every row of the run (later calls win, as in jsPsych), and not the record itself;
 *   - on_finish: calls the experiment's own on_finish (awaited if it returns a promise), then
 *     shows "Saving your answers…" and ExperimentHost.finish(): every record reaches the
 *     server, the run is completed and the page goes to the done page. To end the run with
 *     another outcome, return it from your on_finish (`return {outcome: "screened_out"}`),
 *     or call ExperimentHost.finish({outcome: "screened_out"}) yourself at any point (then
 *     jsPsych is stopped as the page leaves; the first finish wins). If that fails the
 *     worker sees why, with a "Try again" button (none when the page was superseded by
 *     another tab: it stops, as below);
 *   - stops jsPsych (its timers and keyboard listeners) when a later page of the run
 *     supersedes this one (ExperimentHost covers the page and says why);
 *   - makes jsPsych.run(timeline) resume a run after a reload, as below.
 *
 * Resuming
 *   Each element of the top-level timeline array given to jsPsych.run (a "node": a trial or a
 *   whole procedure) is wrapped in a one-child timeline. When a node finishes, the adapter saves
 *   a checkpoint record `{trial_type: "experiment-host-checkpoint", timeline_node: <index>,
 *   time_elapsed}`; these are the only records that are not jsPsych trial data, so filter them
 *   out by trial_type in analyses (they also show when a worker resumed).
 *   When the page is loaded again for a run that already has records, jsPsych.run first fetches
 *   them (ExperimentHost.loadRecords(): the server's plus any still queued in this browser),
 *   puts the trial records back into jsPsych.data (so summaries such as a debrief's accuracy
 *   cover the whole run), and skips, through the wrapper's conditional_function, every node
 *   that has a checkpoint. So:
 *     - a node that finished is never shown again; nothing saved is sent or stored twice
 *       (every record has its own seq and the server keeps each seq once);
 *     - a node interrupted midway restarts from its beginning. The trials it had already
 *       saved stay in the data, so that node's trials may appear twice (e.g. a reload in the
 *       middle of a 40-trial procedure makes the worker redo it). Split long procedures into
 *       several top-level nodes (blocks) to keep what a reload costs small;
 *     - trial_index stays unique and increasing across the reload: trials run after a resume
 *       get indices continuing after the highest saved one. time_elapsed restarts from 0 in
 *       each page life (it is the time since jsPsych.run started on this page).
 *   Limits: the top-level array must have the same nodes in the same order on every load
 *   (randomise inside nodes, not the top-level order, or seed it from ExperimentHost.runId /
 *   ExperimentHost.condition); state held in JavaScript variables, loop_function counters and
 *   timeline-variable order inside an interrupted node are not restored; jsPsych.getTimeline()
 *   returns the wrapped array; the progress bar and jsPsych.getProgress() count from the
 *   resumed point; jsPsych.abortCurrentTimeline() called from a trial that is itself a
 *   top-level node now ends only that node (it ended the whole experiment before);
 *   jsPsych.data.getLastTimelineData() does not work until a new trial has run.
 *   Interaction data (jsPsych.data.getInteractionData(): blur/focus) is not saved.
 */
(function (window) {
  'use strict';

  const CHECKPOINT_TYPE = 'experiment-host-checkpoint';
  const PROPERTIES_TYPE = 'experiment-host-properties';
  const host = window.ExperimentHost;
  const originalInitJsPsych = window.initJsPsych;

  if (typeof originalInitJsPsych !== 'function') {
    console.error('experiment-host-jspsych.js must be loaded after jsPsych (initJsPsych is missing)');
    return;
  }
  if (!host) {
    console.error('experiment-host-jspsych.js needs experiment-host.js, which the server injects');
    return;
  }

  /** What an earlier life of this run saved: checkpointed nodes and the trials' data. */
  async function loadResumeState() {
    const resume = { completedNodes: new Set(), trials: [], lastTrialIndex: null,
      properties: {} };
    if (host.nextSeq === 0) return resume; // a fresh run: nothing to fetch
    const records = await host.loadRecords();
    records.forEach(function (record) {
      const data = record.data || {};
      if (data.trial_type === CHECKPOINT_TYPE) {
        resume.completedNodes.add(data.timeline_node);
        return;
      }
      if (data.trial_type === PROPERTIES_TYPE) {
        Object.assign(resume.properties, data.properties);
        return;
      }
      resume.trials.push(data);
      if (Number.isInteger(data.trial_index)) {
        resume.lastTrialIndex = Math.max(resume.lastTrialIndex === null ? -1 : resume.lastTrialIndex,
          data.trial_index);
      }
    });
    return resume;
  }

  /** Wrap each top-level node so it can be skipped on resume and checkpointed when done. */
  function wrapTimeline(timeline, jsPsych, completedNodes) {
    const nodes = Array.isArray(timeline) ? timeline : [timeline];
    return nodes.map(function (node, index) {
      return {
        timeline: [node],
        conditional_function: function () {
          return !completedNodes.has(index);
        },
        // Runs after the node's last trial was saved (on_data_update comes first), and not if
        // the experiment is aborted midway.
        on_timeline_finish: function () {
          host.save({
            trial_type: CHECKPOINT_TYPE,
            timeline_node: index,
            time_elapsed: jsPsych.getTotalTime(),
          });
        },
      };
    });
  }

  function appendMessage(container, tag, text, testId) {
    const element = document.createElement(tag);
    element.textContent = text;
    if (testId) element.setAttribute('data-testid', testId);
    container.appendChild(element);
    return element;
  }

  /** Complete the run and leave for the done page; on failure, explain and offer a retry. */
  async function finishRun(jsPsych, options) {
    const display = jsPsych.getDisplayElement() || document.body;
    const box = document.createElement('div');
    box.id = 'experiment-host-finish';
    display.appendChild(box);
    for (;;) {
      box.replaceChildren();
      appendMessage(box, 'p', 'Saving your answers…', 'saving').setAttribute('role', 'status');
      try {
        await host.finish(options);
        return;
      } catch (error) {
        box.replaceChildren();
        if (error && error.code === 'superseded_token') {
          // No retry can work: the run continues in the other page (the host covers this one).
          appendMessage(box, 'p', error.message, 'save-error').setAttribute('role', 'alert');
          return;
        }
        appendMessage(box, 'p', 'Your answers could not be saved yet.', 'saving');
        appendMessage(box, 'p', error.message, 'save-error').setAttribute('role', 'alert');
        const retry = appendMessage(box, 'button', 'Try again', 'retry');
        retry.type = 'button';
        await new Promise(function (resolve) {
          retry.addEventListener('click', resolve, { once: true });
        });
      }
    }
  }

  /** Once a later page of the run supersedes this one, or the run is finished (the task
   * called ExperimentHost.finish itself), no timer or key moves jsPsych on. */
  function stopWhenSuperseded(jsPsych) {
    let stopped = false;
    host.onChange(function (status) {
      const superseded = status.error && status.error.code === 'superseded_token';
      if (stopped || !(superseded || status.completed)) return;
      stopped = true;
      jsPsych.pluginAPI.clearAllTimeouts();
      jsPsych.pluginAPI.cancelAllKeyboardResponses();
    });
  }

  window.initJsPsych = function initJsPsych(options) {
    const settings = Object.assign({}, options);
    const ownDataUpdate = settings.on_data_update;
    const ownFinish = settings.on_finish;
    let resume = null;
    let trialIndexOffset = null;

    settings.on_data_update = function (data) {
      if (resume && resume.lastTrialIndex !== null && Number.isInteger(data.trial_index)) {
        // jsPsych numbers trials from 0 again on the new page (and counts each skipped node as
        // one): shift them to continue after the trials saved before the reload. The object
        // is jsPsych's own, so jsPsych.data sees the same index that is saved.
        if (trialIndexOffset === null) {
          trialIndexOffset = resume.lastTrialIndex + 1 - data.trial_index;
        }
        data.trial_index += trialIndexOffset;
      }
      host.save(data);
      if (typeof ownDataUpdate === 'function') ownDataUpdate(data);
    };

    settings.on_finish = async function (data) {
      let options;
      try {
        const result = typeof ownFinish === 'function' ? await ownFinish(data) : undefined;
        if (result && typeof result === 'object' && typeof result.outcome === 'string') {
          options = { outcome: result.outcome };
        }
      } catch (error) {
        // The experiment's own end-of-run code must not keep the data from being completed.
        console.error('experiment-host: the experiment\'s on_finish threw', error);
      }
      await finishRun(jsPsych, options);
    };

    const jsPsych = originalInitJsPsych(settings);
    const originalRun = jsPsych.run;
    const originalAddProperties = jsPsych.data.addProperties.bind(jsPsych.data);

    jsPsych.data.addProperties = function addProperties(properties) {
      originalAddProperties(properties);
      if (properties && typeof properties === 'object' && !Array.isArray(properties)) {
        host.save({ trial_type: PROPERTIES_TYPE, properties: properties });
      }
    };

    stopWhenSuperseded(jsPsych);

    jsPsych.run = async function run(timeline) {
      resume = await loadResumeState();
      resume.trials.forEach(function (data) {
        jsPsych.data.get().push(data);
      });
      // Properties added before the reload apply to the trials still to come (not saved again).
      if (Object.keys(resume.properties).length) originalAddProperties(resume.properties);
      return originalRun(wrapTimeline(timeline, jsPsych, resume.completedNodes));
    };

    return jsPsych;
  };
})(window);
