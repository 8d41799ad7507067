/*
 * A simple reaction-time task in plain jsPsych 8 (after jsPsych's own tutorial).
 *
 * Press F for a blue circle and J for an orange one. Two blocks of 4 trials, each trial a
 * 250 ms fixation cross then the circle. Nothing here knows about experiment_host: the adapter
 * loaded before this file saves every trial and ends the run after on_finish.
 *
 * The run ends with the outcome "completed", or "failed_attention" when fewer than half of the
 * circles got the right key: on_finish returns the outcome, and experiment.toml gives each
 * outcome its Prolific completion code (and what Prolific does with it).
 *
 * Why two blocks rather than one procedure of 8: after a reload the run resumes at the
 * top-level node that was interrupted, so smaller top-level nodes mean less to redo.
 *
 * Hooks for automated tests: every screen renders inside #jspsych-html-keyboard-response-stimulus;
 * the instructions carry data-testid="instructions", the fixation data-testid="fixation", a
 * circle data-testid="rt-stimulus" plus data-correct-key="f|j", the debrief data-testid="debrief".
 */
const jsPsych = initJsPsych({
  on_finish: function () {
    // An experiment may do its own thing here (jsPsych.data.displayData(), say); saving and
    // leaving for the done page happen after it. Properties added here (totals, a score)
    // are saved too, and trials.csv shows them on every row of the run, as jsPsych's own
    // jsPsych.data.get().csv() would.
    const responses = jsPsych.data.get().filter({ task: 'response' });
    const accuracy = responses.count() ? responses.filter({ correct: true }).count() / responses.count() : 0;
    jsPsych.data.addProperties({
      accuracy: accuracy,
      mean_rt: responses.count() ? Math.round(responses.select('rt').mean()) : null,
    });
    console.log('Experiment finished with ' + jsPsych.data.get().count() + ' trials.');
    // The adapter ends the run with the outcome returned here (default "completed").
    return { outcome: accuracy < 0.5 ? 'failed_attention' : 'completed' };
  },
});

const timeline = [];

const instructions = {
  type: jsPsychHtmlKeyboardResponse,
  stimulus: `
    <div data-testid="instructions">
      <p>In this task a circle will appear in the centre of the screen.</p>
      <div class="keys">
        <div><div class="circle blue"></div><p>If it is <strong>blue</strong>, press <kbd>F</kbd>.</p></div>
        <div><div class="circle orange"></div><p>If it is <strong>orange</strong>, press <kbd>J</kbd>.</p></div>
      </div>
      <p>Respond as quickly as you can.</p>
      <p>Press any key to begin.</p>
    </div>`,
  post_trial_gap: 500,
  data: { task: 'instructions' },
};
timeline.push(instructions);

const testStimuli = [
  { stimulus: '<div class="circle blue" data-testid="rt-stimulus" data-correct-key="f"></div>', correct_response: 'f', colour: 'blue' },
  { stimulus: '<div class="circle orange" data-testid="rt-stimulus" data-correct-key="j"></div>', correct_response: 'j', colour: 'orange' },
];

const fixation = {
  type: jsPsychHtmlKeyboardResponse,
  stimulus: '<div class="fixation" data-testid="fixation">+</div>',
  choices: 'NO_KEYS',
  trial_duration: 250,
  data: { task: 'fixation' },
};

const test = {
  type: jsPsychHtmlKeyboardResponse,
  stimulus: jsPsych.timelineVariable('stimulus'),
  choices: ['f', 'j'],
  data: {
    task: 'response',
    colour: jsPsych.timelineVariable('colour'),
    correct_response: jsPsych.timelineVariable('correct_response'),
  },
  on_finish: function (data) {
    data.correct = jsPsych.pluginAPI.compareKeys(data.response, data.correct_response);
  },
};

// Each block shows both colours twice, in random order.
function testBlock(block) {
  return {
    timeline: [fixation, test],
    timeline_variables: testStimuli,
    sample: { type: 'fixed-repetitions', size: 2 },
    randomize_order: true,
    data: { block: block },
  };
}
timeline.push(testBlock(1));
timeline.push(testBlock(2));

const debrief = {
  type: jsPsychHtmlKeyboardResponse,
  stimulus: function () {
    const trials = jsPsych.data.get().filter({ task: 'response' });
    const correctTrials = trials.filter({ correct: true });
    const accuracy = trials.count() ? Math.round(correctTrials.count() / trials.count() * 100) : 0;
    const rt = correctTrials.count() ? Math.round(correctTrials.select('rt').mean()) : 0;
    return `
      <div data-testid="debrief">
        <p>You responded correctly on ${accuracy}% of the trials.</p>
        <p>Your average response time was ${rt} ms.</p>
        <p>Press any key to finish and save your answers.</p>
      </div>`;
  },
  data: { task: 'debrief' },
};
timeline.push(debrief);

jsPsych.run(timeline);
