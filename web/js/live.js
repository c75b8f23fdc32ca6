// Live updates from GET /api/events (Server-Sent Events, CONTRACT §2 and §8). The stream's
// events are upsert (the status), delete and expire ({username, version}) and reset. Each has an
// `id:`; the last one is kept, and when this page opens a new EventSource after an error it
// asks to resume from there (`?lastEventId=`; EventSource's own reconnects send the
// Last-Event-ID header by themselves). The node then first replays what was missed (some events
// may come twice: applying one again changes nothing), so the page need not reload its lists;
// when it can no longer tell, it sends `event: reset` and the page reloads.
//
// A gateway that hangs (alive to TCP, answering nothing) leaves the stream open and silent; the
// node's keep-alive (`: ping`) is a comment that EventSource does not show. So the stream asks
// for heartbeats (`?heartbeat=1`: `event: heartbeat`, no id, after a second without an event),
// and a stream that has brought nothing — no event, no heartbeat, not even its opening — for
// SILENT_MS has failed: its gateway hangs. With another gateway to go to (gateways.js) the page
// moves there and the stream resumes at once, from the last event id. A stream that fails with
// an error moves on too when its gateway does not answer /health within a second either. Else
// the page reconnects (quickly, then backing off) and the gateway picks a node. An idle page
// asks nothing besides the stream (and the gateway list every 5 minutes).
import { currentGateway, gatewayGone, moveOn, onGatewayChange, openEventSource, severalGateways } from './gateways.js';

export const HEARTBEAT_S = 1;
export const SILENT_MS = 2500;
const STALL_MS = 1000;

/** The stream's URL: heartbeats, and where to resume from (the last event id, if any). */
export function eventsPath(lastEventId) {
  return `/api/events?heartbeat=${HEARTBEAT_S}${lastEventId ? `&lastEventId=${encodeURIComponent(lastEventId)}` : ''}`;
}

/**
 * Opens the stream and keeps it open. `from`: the event id to start after — a list answer's
 * X-Event-Id, so that the stream replays every change since that list was read (and the page
 * need not load it again when the stream opens).
 */
export function connectEvents({ onUpsert, onDelete, onExpire, onReset, onState, onOpen, from = '' }) {
  let es = null;
  let delay = 500;
  let timer = null;
  let lastId = from;

  let through = null; // the gateway of the stream
  let closed = false;
  let heard = 0;       // Date.now() when the stream last brought something (or was opened)
  let silence = null;  // the timer that notices a silent stream
  const ended = new WeakSet(); // the streams whose failure has been handled

  let due = 0;         // when the silence timer should run
  // Something came (or the stream was just opened): the silence starts again.
  function alive() {
    heard = Date.now();
    if (silence === null) arm(SILENT_MS);
  }
  function arm(ms) {
    due = Date.now() + ms;
    silence = setTimeout(checkSilence, ms);
  }
  function checkSilence() {
    silence = null;
    if (closed || !es) return;
    const now = Date.now();
    // Run much later than asked, the page itself stood still (a long task, a hidden page's
    // throttled timers, a sleeping laptop): what the stream brought meanwhile may still wait
    // behind this timer, so the silence is measured again from now.
    if (now - due > STALL_MS) heard = now;
    const left = heard + SILENT_MS - now;
    if (left > 0) arm(left); // heard meanwhile: wait the rest
    else failed(es, true);
  }

  function open() {
    clearTimeout(timer);
    onState('connecting');
    const resume = lastId;
    through = currentGateway();
    es = openEventSource(eventsPath(resume));
    alive(); // a stream that does not even open within SILENT_MS has failed too
    es.onopen = () => {
      alive();
      delay = 500;
      onState('live');
      // Without an id to resume from (no list read yet, no event seen yet) the events sent
      // while the stream was down are lost: the caller reloads.
      onOpen({ resumed: !!resume });
    };
    on('upsert', onUpsert);
    on('delete', onDelete);
    on('expire', onExpire);
    on('reset', onReset);
    es.addEventListener('heartbeat', alive);
    const mine = es;
    es.onerror = () => failed(mine);
  }

  // The stream `which` failed: an error, or `silent` for SILENT_MS.
  async function failed(which, silent = false) {
    if (which !== es || ended.has(which)) return; // an old stream, or this one's failure handled
    ended.add(which);
    which.close();
    clearTimeout(silence);
    silence = null;
    // Its gateway gone — silent (it hangs), or it does not answer /health after an error
    // either: on through the next one now (the change reopens the stream).
    if (silent ? severalGateways() && moveOn(through) : await gatewayGone(through)) return;
    if (es !== which || closed) return; // reopened meanwhile (another call moved to another gateway)
    // The node behind the stream may have died: reconnect ourselves (quickly, then backing
    // off) so that the gateway can pick another node.
    onState('reconnecting', Math.round(delay / 100) / 10);
    timer = setTimeout(open, delay);
    delay = Math.min(delay * 2, 10000);
  }

  // The page moved to another gateway (this stream's failure or a call's): the stream too.
  onGatewayChange((gateway) => {
    if (gateway === through || closed) return;
    es?.close();
    delay = 500;
    open();
  });

  function on(type, fn) {
    es.addEventListener(type, (e) => {
      alive();
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        console.warn(`ignoring an event (${type}) that is not JSON:`, e.data);
        return;
      }
      fn(data);
      if (e.lastEventId) lastId = e.lastEventId;
    });
  }

  open();
  return {
    close: () => { closed = true; clearTimeout(timer); clearTimeout(silence); es?.close(); },
    /** The id of the last event applied ('' before the first). */
    get lastEventId() { return lastId; },
  };
}
