// A recording's audio and its transcript segments: a segment is a button that seeks the audio to
// where it was said and plays from there; the segment being heard is marked as playback moves.
import { clock, el } from './dom.js';

/** The <audio> for a recording; made once per recording, so a re-render never stops playback. */
export function audioFor(recording) {
  const audio = el('audio', { controls: true, preload: 'none', src: `/api/recordings/${encodeURIComponent(recording.id)}/audio` });
  audio.setAttribute('aria-label', 'Play the recording');
  audio.addEventListener('timeupdate', () => markCurrent(audio));
  return audio;
}

/** Seeks once the browser knows the file (preload is none until someone plays). */
async function seek(audio, seconds) {
  if (audio.readyState === HTMLMediaElement.HAVE_NOTHING) {
    const loaded = new Promise((resolve, reject) => {
      audio.addEventListener('loadedmetadata', resolve, { once: true });
      audio.addEventListener('error', () => reject(new Error('the audio did not load')), { once: true });
    });
    audio.preload = 'auto';
    audio.load();
    await loaded;
  }
  audio.currentTime = seconds;
  // A browser may refuse to play (autoplay rules, no output device): the seek still stands.
  await audio.play().catch(() => undefined);
}

/** The segment list; `audio` is the recording's player (null: it cannot be played yet). */
export function segmentList(segments, audio) {
  const list = el('ol', { className: 'segments' });
  for (const segment of segments) {
    const button = el(
      'button',
      { type: 'button', className: 'segment', dataset: { startMs: segment.startMs, endMs: segment.endMs }, disabled: audio === null },
      el('span', { className: 'at', textContent: clock(segment.startMs) }),
      el('span', { className: 'text', textContent: segment.text }),
    );
    button.setAttribute('aria-label', `Play from ${clock(segment.startMs)}: ${segment.text}`);
    button.addEventListener('click', () => {
      if (audio) seek(audio, segment.startMs / 1000).catch((error) => console.warn('seek', error));
    });
    list.append(el('li', {}, button));
  }
  return list;
}

function markCurrent(audio) {
  const item = audio.closest('li.recording');
  if (!item) return;
  const ms = audio.currentTime * 1000;
  for (const button of item.querySelectorAll('button.segment')) {
    const current = ms >= Number(button.dataset.startMs) && ms < Number(button.dataset.endMs);
    button.classList.toggle('current', current);
  }
}
