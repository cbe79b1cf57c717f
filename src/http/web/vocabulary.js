// The vocabulary editor: the names and terms sent to whisper as its prompt, one per line.
// GET/PUT /api/vocabulary ({ terms }, GET with the limits). The server normalises the list
// (trims, collapses spaces, drops blanks and duplicates) and answers a bad one with every
// problem at once, each with the index of its term: the line it is on, since we send the lines
// as they are.
import { ApiError, getJson, LoggedOut, send } from './api.js';
import { $, el } from './dom.js';

let limits = null;
const area = $('vocabulary-terms');

function lines() {
  return area.value.split('\n');
}

function showCount() {
  if (!limits) return;
  const terms = lines().map((line) => line.trim().replace(/\s+/g, ' ')).filter(Boolean);
  // The prompt joins the terms with ", " (src/domain/vocabulary.ts); count code points like it does.
  const promptChars = [...terms.join(', ')].length;
  const count = $('vocabulary-count');
  count.textContent = `${terms.length} of ${limits.maxTerms} terms · ${promptChars} of ${limits.maxPromptChars} characters`;
  count.dataset.over = String(terms.length > limits.maxTerms || promptChars > limits.maxPromptChars);
}

function show(body) {
  limits = body.limits;
  area.value = body.terms.join('\n');
  $('vocabulary-help').textContent =
    `Names and terms whisper should spell your way, one per line: at most ${limits.maxTerms}, ` +
    `each up to ${limits.maxTermChars} characters. A short list works best. Applies to what is transcribed next.`;
  showProblems([]);
  showCount();
}

function showProblems(problems) {
  const list = $('vocabulary-problems');
  list.replaceChildren(...problems.map((problem) =>
    el('li', { textContent: problem.index === null ? problem.message : `Line ${problem.index + 1}: ${problem.message}` })));
  list.hidden = problems.length === 0;
  area.setAttribute('aria-invalid', String(problems.length > 0));
}

export async function loadVocabulary() {
  try {
    show(await getJson('/api/vocabulary'));
    $('vocabulary-form').hidden = false;
    $('vocabulary-missing').hidden = true;
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
    // A server without the route yet: say so rather than offer an editor that cannot save.
    $('vocabulary-form').hidden = true;
    $('vocabulary-missing').hidden = false;
  }
}

export function setupVocabulary() {
  area.addEventListener('input', showCount);
  $('vocabulary-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const status = $('vocabulary-status');
    status.textContent = 'Saving…';
    send('PUT', '/api/vocabulary', { terms: lines() })
      .then((body) => {
        show(body);
        status.textContent = `Saved ${body.terms.length} term${body.terms.length === 1 ? '' : 's'}.`;
      })
      .catch((error) => {
        if (error instanceof LoggedOut) return;
        status.textContent = 'Not saved.';
        showProblems(error instanceof ApiError && Array.isArray(error.body?.problems) ? error.body.problems : [{ index: null, message: error.message }]);
      });
  });
  $('vocabulary-reset').addEventListener('click', () => {
    $('vocabulary-status').textContent = '';
    loadVocabulary().catch((error) => {
      if (!(error instanceof LoggedOut)) $('vocabulary-status').textContent = error.message;
    });
  });
}
