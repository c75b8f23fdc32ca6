// Live updates from GET /api/events (Server-Sent Events). On every (re)connect the caller
// reloads what it shows, since events sent while the stream was down are not replayed.

export function connectEvents({ onUpsert, onDelete, onState, onOpen }) {
  let es = null;
  let delay = 500;
  let timer = null;

  function open() {
    clearTimeout(timer);
    onState('connecting');
    es = new EventSource('/api/events');
    es.onopen = () => {
      delay = 500;
      onState('live');
      onOpen();
    };
    es.addEventListener('upsert', (e) => handle(e, onUpsert));
    es.addEventListener('delete', (e) => handle(e, onDelete));
    es.onerror = () => {
      // The node behind the stream may have died: reconnect ourselves (quickly, then backing
      // off) so that the gateway can pick another node.
      es.close();
      onState('reconnecting', Math.round(delay / 100) / 10);
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }

  function handle(e, fn) {
    let data;
    try {
      data = JSON.parse(e.data);
    } catch {
      console.warn('ignoring an event that is not JSON:', e.data);
      return;
    }
    fn(data);
  }

  open();
  return { close: () => { clearTimeout(timer); es?.close(); } };
}
