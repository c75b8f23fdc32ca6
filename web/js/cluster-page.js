// The operators' page (cluster.html, served at /cluster): the nodes behind the gateway, in the
// page's language, refreshed every 15 s while visible (cluster.js); its animations pause on
// request and with prefers-reduced-motion.
import { ClusterView } from './cluster.js';
import { languageSwitch, onLangChange } from './i18n.js';
import { followTopbarHeight } from './util.js';

const $ = (id) => document.getElementById(id);

languageSwitch($('lang-switch'));
followTopbarHeight();

const view = new ClusterView({
  list: $('nodes'), summary: $('cluster-summary'), msg: $('cluster-msg'), recent: $('recent'),
  updated: $('cluster-updated'),
});
$('cluster-refresh').addEventListener('click', () => view.refresh());

// Motion: off with the system's "reduce motion", and by the button (remembered for the page).
const motion = $('motion-toggle');
const reduce = matchMedia('(prefers-reduced-motion: reduce)');
function setMotion(paused) {
  document.documentElement.dataset.motion = paused ? 'paused' : 'on';
  motion.setAttribute('aria-pressed', String(paused));
}
setMotion(reduce.matches);
reduce.addEventListener('change', () => setMotion(reduce.matches));
motion.addEventListener('click', () => setMotion(motion.getAttribute('aria-pressed') !== 'true'));

onLangChange(() => view.rerender());
view.start();
