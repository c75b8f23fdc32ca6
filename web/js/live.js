// Live updates from GET /api/events (Server-Sent Events, CONTRACT §2 and §8). The stream's
// events are upsert (the status), delete and expire ({username, version}) and reset. Each has an
// `id:`; the last one is kept, and when this page opens a new EventSource after an error it
// asks to resume from there (`?lastEventId=`; EventSource's own reconnects send the
// Last-Event-ID header by themselves). The node then first replays what was missed (some events
// may come twice: applying one again changes nothing), so the page need not reload its lists;
// when it can no longer tell, it sends `event: reset` and the page reloads.
// With several gateways (gateways.js) the stream follows the page's current gateway: when the
// stream fails and its gateway does not answer /health either, the page moves to the next
// gateway and the stream resumes there at once, from the last event id.
//
// A gateway that hangs (alive to TCP, answering nothing) leaves the stream open and silent, and
// the page makes no other requests while it is idle: so with several gateways to go to (only
// then), a visible page asks its stream's gateway for /health every WATCH_MS and moves on when it
// does not answer within a second. With one gateway an idle page asks nothing besides the stream.
import { currentGateway, gatewayGone, onGatewayChange, openEventSource, severalGateways } from './gateways.js';

export const WATCH_MS = 2500;

export function connectEvents({ onUpsert, onDelete, onExpire, onReset, onState, onOpen }) {
  let es = null;
  let delay = 500;
  let timer = null;
  let lastId = '';

  let through = null; // the gateway of the stream
  let closed = false;

  function open() {
    clearTimeout(timer);
    onState('connecting');
    const resume = lastId;
    through = currentGateway();
    es = openEventSource(resume ? `/api/events?lastEventId=${encodeURIComponent(resume)}` : '/api/events');
    es.onopen = () => {
      delay = 500;
      onState('live');
      // Without an id to resume from (the first connect, or no event seen yet) the events sent
      // while the stream was down are lost: the caller reloads.
      onOpen({ resumed: !!resume });
    };
    on('upsert', onUpsert);
    on('delete', onDelete);
    on('expire', onExpire);
    on('reset', onReset);
    const mine = es;
    es.onerror = async () => {
      es.close();
      // Its gateway gone: on through the next one now (the change reopens the stream).
      if (await gatewayGone(through)) return;
      if (es !== mine) return; // reopened meanwhile (another call moved to another gateway)
      // The node behind the stream may have died: reconnect ourselves (quickly, then backing
      // off) so that the gateway can pick another node.
      onState('reconnecting', Math.round(delay / 100) / 10);
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
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

  let watching = false;
  const watch = setInterval(async () => {
    if (watching || closed || !es || es.readyState !== EventSource.OPEN) return;
    if (document.visibilityState !== 'visible' || !severalGateways()) return;
    watching = true;
    try {
      await gatewayGone(through); // moves on (and the stream with it) when it does not answer
    } finally {
      watching = false;
    }
  }, WATCH_MS);

  open();
  return {
    close: () => { closed = true; clearTimeout(timer); clearInterval(watch); es?.close(); },
    /** The id of the last event applied ('' before the first). */
    get lastEventId() { return lastId; },
  };
}
