// Live updates from GET /api/events (Server-Sent Events, CONTRACT §2 and §8). The stream's
// events are upsert (the status), delete and expire ({username, version}) and reset. Each has an
// `id:`; the last one is kept, and when this page opens a new EventSource after an error it
// asks to resume from there (`?lastEventId=`; EventSource's own reconnects send the
// Last-Event-ID header by themselves). The node then first replays what was missed (some events
// may come twice: applying one again changes nothing), so the page need not reload its lists;
// when it can no longer tell, it sends `event: reset` and the page reloads.

export function connectEvents({ onUpsert, onDelete, onExpire, onReset, onState, onOpen }) {
  let es = null;
  let delay = 500;
  let timer = null;
  let lastId = '';

  function open() {
    clearTimeout(timer);
    onState('connecting');
    const resume = lastId;
    es = new EventSource(resume ? `/api/events?lastEventId=${encodeURIComponent(resume)}` : '/api/events');
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
    es.onerror = () => {
      // The node behind the stream may have died: reconnect ourselves (quickly, then backing
      // off) so that the gateway can pick another node.
      es.close();
      onState('reconnecting', Math.round(delay / 100) / 10);
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }

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

  open();
  return {
    close: () => { clearTimeout(timer); es?.close(); },
    /** The id of the last event applied ('' before the first). */
    get lastEventId() { return lastId; },
  };
}
