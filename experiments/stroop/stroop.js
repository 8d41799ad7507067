/*
 * Stroop colour naming, written in plain JavaScript against ExperimentHost.
 *
 * 12 trials in two blocks of 6. Each trial shows a colour word in an ink colour; the worker
 * presses R, G, B or Y for the ink. One trial = one record, saved with ExperimentHost.save():
 *   {trial, block, block_type, word, ink, congruent, key, response, correct, rt, condition}
 * `trial` counts from 0 and equals the record's seq, which is what makes resuming simple:
 * after a reload the task continues at trial ExperimentHost.nextSeq.
 *
 * The condition sets the block order: "congruent-first" runs the mostly congruent block
 * (4 of 6 congruent) first, "incongruent-first" runs the mostly incongruent one first.
 * The trial list is shuffled with a generator seeded by the run id, so a reloaded page
 * rebuilds exactly the same list and the resumed trials are the ones not yet done.
 *
 * The run ends with the outcome "completed", or "failed_attention" when fewer than half of
 * the answers were right (below what anyone attending gets): experiment.toml gives each
 * outcome its Prolific completion code, so Prolific sends those submissions to review.
 *
 * Hooks for automated tests: #start (the Start/Continue button); #stimulus, which carries
 * data-trial="<0-based trial>" and data-ink="red|green|blue|yellow" only while a word is on
 * screen and its key listener is active (both are removed during fixation); #saving at the end.
 */
(function () {
  'use strict';

  const COLOURS = [
    { name: 'red', key: 'r' },
    { name: 'green', key: 'g' },
    { name: 'blue', key: 'b' },
    { name: 'yellow', key: 'y' },
  ];
  const BLOCKS = {
    'mostly-congruent': { congruent: 4, incongruent: 2 },
    'mostly-incongruent': { congruent: 2, incongruent: 4 },
  };
  const BLOCK_ORDER = {
    'congruent-first': ['mostly-congruent', 'mostly-incongruent'],
    'incongruent-first': ['mostly-incongruent', 'mostly-congruent'],
  };
  const DEFAULT_CONDITION = 'congruent-first';
  const FIXATION_MS = 250;
  const INTER_TRIAL_MS = 150;

  const host = window.ExperimentHost;
  const $ = function (id) {
    return document.getElementById(id);
  };

  /** Small seeded generator (mulberry32): the same run id always gives the same trial list. */
  function seededRandom(seed) {
    let a = seed >>> 0;
    return function () {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function shuffle(items, random) {
    const result = items.slice();
    for (let i = result.length - 1; i > 0; i -= 1) {
      const j = Math.floor(random() * (i + 1));
      const swap = result[i];
      result[i] = result[j];
      result[j] = swap;
    }
    return result;
  }

  function pick(items, random) {
    return items[Math.floor(random() * items.length)];
  }

  function blockTrials(blockType, random) {
    const counts = BLOCKS[blockType];
    const names = COLOURS.map(function (colour) {
      return colour.name;
    });
    const trials = [];
    shuffle(names, random).slice(0, counts.congruent).forEach(function (ink) {
      trials.push({ word: ink, ink: ink, congruent: true });
    });
    shuffle(names, random).slice(0, counts.incongruent).forEach(function (ink) {
      const otherWords = names.filter(function (name) {
        return name !== ink;
      });
      trials.push({ word: pick(otherWords, random), ink: ink, congruent: false });
    });
    return shuffle(trials, random);
  }

  function buildTrials(seed, condition) {
    const random = seededRandom(seed);
    const order = BLOCK_ORDER[condition] || BLOCK_ORDER[DEFAULT_CONDITION];
    const trials = [];
    order.forEach(function (blockType, blockIndex) {
      blockTrials(blockType, random).forEach(function (trial) {
        trials.push(Object.assign({ block: blockIndex + 1, block_type: blockType }, trial));
      });
    });
    return trials;
  }

  function showScreen(id) {
    ['instructions', 'task', 'saving'].forEach(function (screen) {
      $(screen).hidden = screen !== id;
    });
  }

  // ------------------------------------------------------------------ trials

  let trials = [];
  let condition = DEFAULT_CONDITION;

  function runTrial(index) {
    if (index >= trials.length) {
      finishRun();
      return;
    }
    $('progress').textContent = 'Word ' + (index + 1) + ' of ' + trials.length;
    clearStimulus('+');
    window.setTimeout(function () {
      showWord(index);
    }, FIXATION_MS);
  }

  function clearStimulus(text) {
    const stimulus = $('stimulus');
    // No data-trial / data-ink between words: a test waiting on them must not press too early.
    stimulus.removeAttribute('data-trial');
    stimulus.removeAttribute('data-ink');
    stimulus.className = 'stimulus';
    stimulus.textContent = text;
  }

  function showWord(index) {
    const trial = trials[index];
    const stimulus = $('stimulus');
    const onset = performance.now();

    function onKey(event) {
      if (event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
      const key = String(event.key).toLowerCase();
      const colour = COLOURS.find(function (candidate) {
        return candidate.key === key;
      });
      if (!colour) return;
      event.preventDefault();
      document.removeEventListener('keydown', onKey);
      const rt = Math.round(performance.now() - onset);
      host.save({
        trial: index,
        block: trial.block,
        block_type: trial.block_type,
        word: trial.word,
        ink: trial.ink,
        congruent: trial.congruent,
        key: key,
        response: colour.name,
        correct: colour.name === trial.ink,
        rt: rt,
        condition: condition,
      });
      clearStimulus('');
      window.setTimeout(function () {
        runTrial(index + 1);
      }, INTER_TRIAL_MS);
    }

    document.addEventListener('keydown', onKey);
    stimulus.textContent = trial.word.toUpperCase();
    stimulus.className = 'stimulus ink-' + trial.ink;
    stimulus.setAttribute('data-ink', trial.ink);
    stimulus.setAttribute('data-trial', String(index));
  }

  // ------------------------------------------------------------------ finish

  /** "failed_attention" when fewer than half of the run's answers (all page lives) were right. */
  function outcomeOf(records) {
    const answers = records.filter(function (record) {
      return typeof record.data.correct === 'boolean';
    });
    const right = answers.filter(function (record) {
      return record.data.correct;
    }).length;
    return answers.length && right * 2 < answers.length ? 'failed_attention' : 'completed';
  }

  function finishRun() {
    showScreen('saving');
    $('saving-message').textContent = 'Saving your answers…';
    $('save-error').hidden = true;
    $('retry').hidden = true;
    // finish() waits until every answer is on the server, completes the run with its
    // outcome and then moves this page to the done page.
    host.loadRecords().then(function (records) {
      return host.finish({ outcome: outcomeOf(records) });
    }).catch(function (error) {
      $('saving-message').textContent = 'Your answers could not be saved yet.';
      $('save-error').textContent = error.message;
      $('save-error').hidden = false;
      // A page superseded by another tab cannot save again: no retry to offer.
      $('retry').hidden = error.code === 'superseded_token';
    });
  }

  // ------------------------------------------------------------------- start

  function start() {
    if (!host) {
      document.body.textContent = 'This task must be opened through its study link.';
      return;
    }
    condition = host.condition || DEFAULT_CONDITION;
    trials = buildTrials(Number(host.runId) || 1, condition);
    $('trial-count').textContent = String(trials.length);
    $('retry').addEventListener('click', finishRun);

    const firstTrial = host.nextSeq;
    if (firstTrial >= trials.length) {
      // Every trial was saved before a reload: only the completion is left to do.
      finishRun();
      return;
    }
    if (firstTrial > 0) {
      $('resume-note').textContent = 'Welcome back. Your first ' + firstTrial + ' answers are ' +
        'saved; you will continue with word ' + (firstTrial + 1) + ' of ' + trials.length + '.';
      $('resume-note').hidden = false;
      $('start').textContent = 'Continue';
    }
    showScreen('instructions');
    const button = $('start');
    button.addEventListener('click', function () {
      button.disabled = true;
      button.blur(); // so that a key press goes to the task, not to the button
      showScreen('task');
      runTrial(firstTrial);
    }, { once: true });
    button.focus();
  }

  start();
})();
