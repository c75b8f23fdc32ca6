// Sign-up, sign-in and sign-out (CONTRACT §6), and the page's idea of who you are.
// The credential is the node's HttpOnly session cookie (same origin through the gateway): the
// page never sees the token. Who you are comes from GET /api/me at load, from the sign-in answer,
// and again after any 401 or 403. The one thing kept in localStorage is the last username used
// (signing in, or writing while not signed in), so that the forms offer it again.
import { account, ApiError } from './api.js';
import { t } from './i18n.js';
import { keepInPlace } from './util.js';
import { credentialFieldOf, isAdmin, retryAfterSeconds, tooManyMessage, validateCredentials } from './access.js';

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A new account or session replicates to the other nodes asynchronously (like a status), so the
// node that answers the next request may not know it for a moment: requests right after a
// sign-up or sign-in that are refused with 401 are tried again after these pauses.
export const FRESH_RETRY_MS = [250, 500, 1000];
const FRESH_MS = 10000;

const NAME_KEY = 'statusServer.username';

/** The username last used in this browser ('' if none, or if storage is unavailable). */
export function rememberedUsername() {
  try {
    return localStorage.getItem(NAME_KEY) || '';
  } catch {
    return '';
  }
}

/** Remembers `name` as the last username used (until the next sign-in or write replaces it). */
export function rememberUsername(name) {
  try {
    if (name) localStorage.setItem(NAME_KEY, name);
  } catch { /* storage disabled: nothing is remembered */ }
}

export class AccountView {
  /** `describe(err, what)`: the page's words for an unexpected error. */
  constructor({ describe }) {
    this.describe = describe;
    this.access = { mode: 'unknown', me: null };
    this.listeners = new Set();
    this.lockTimer = null;
    this.signedInAt = 0;
    this.card = $('account');
    this.forms = {
      signin: { form: $('signin-form'), user: $('si-username'), pass: $('si-password'), btn: $('signin-btn'),
        msg: $('signin-msg'), err: { username: $('si-username-err'), password: $('si-password-err') } },
      signup: { form: $('signup-form'), user: $('su-username'), pass: $('su-password'), btn: $('signup-btn'),
        msg: $('signup-msg'), err: { username: $('su-username-err'), password: $('su-password-err') } },
    };
    for (const f of Object.values(this.forms)) {
      f.user.addEventListener('input', () => this.fieldError(f, 'username', ''));
      f.pass.addEventListener('input', () => this.fieldError(f, 'password', ''));
    }
    this.forms.signin.user.value ||= rememberedUsername();
    this.forms.signin.form.addEventListener('submit', (e) => { e.preventDefault(); this.signIn(); });
    this.forms.signup.form.addEventListener('submit', (e) => { e.preventDefault(); this.signUp(); });
    $('show-signup').addEventListener('click', () => this.show('signup'));
    $('show-signin').addEventListener('click', () => this.show('signin'));
    $('signin-link').addEventListener('click', () => this.focusSignIn());
    $('signout-btn').addEventListener('click', () => this.signOut());
  }

  /** fn(access) whenever the mode or the signed-in user changes (and once at load). */
  onChange(fn) { this.listeners.add(fn); }

  set(mode, me) {
    this.access = { mode, me: me ? { username: me.username, roles: me.roles || [] } : null };
    this.render();
    for (const fn of this.listeners) fn(this.access);
  }

  /** Asks the node who we are: 200 signed in, 401 signed out, 404 no accounts (--auth off). */
  async refresh() {
    try {
      const r = await account.me();
      this.set('required', r.body);
    } catch (err) {
      if (err.status === 401) this.set('required', null);
      else if (err.status === 404) this.set('off', null);
      else {
        // Cannot tell (network, 5xx): offer the sign-in form; the next request will tell.
        this.set('unknown', null);
        this.message(this.forms.signin, 'error', this.describe(err, t('account.whoFailed')));
      }
    }
  }

  /** Whether this page signed in within the last few seconds (see FRESH_RETRY_MS). */
  recentlySignedIn() { return !!this.access.me && Date.now() - this.signedInAt < FRESH_MS; }

  /**
   * Runs `fn`; a 401 shortly after signing in is retried a few times (the session may not have
   * reached the answering node yet). Any other outcome is returned or thrown as it is.
   */
  async fresh(fn, { force = false } = {}) {
    for (const pause of FRESH_RETRY_MS) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 401 && (force || this.recentlySignedIn()))) throw err;
        await sleep(pause);
      }
    }
    return fn();
  }

  /** After a 401 on a write: whatever the page thought, the session is not valid. */
  signedOut() {
    if (this.access.mode === 'off') return;
    this.set('required', null);
  }

  render() {
    const { mode, me } = this.access;
    const box = $('whoami');
    box.dataset.state = mode === 'off' ? 'open' : me ? 'in' : mode === 'required' ? 'out' : 'unknown';
    box.hidden = mode === 'off';
    const text = $('whoami-text');
    if (me) {
      text.replaceChildren(`${t('who.youAre')} `, Object.assign(document.createElement('strong'),
        { textContent: me.username, dir: 'auto' }));
      if (isAdmin(me)) text.append(' ', Object.assign(document.createElement('span'), { className: 'role', textContent: t('who.admin') }));
    } else {
      text.textContent = t(mode === 'unknown' ? 'who.unknown' : 'who.out');
    }
    $('signin-link').hidden = !!me || mode === 'off';
    $('signout-btn').hidden = !me;
    this.card.hidden = !!me || mode === 'off';
  }

  show(which) {
    const other = which === 'signin' ? 'signup' : 'signin';
    this.forms[which].form.hidden = false;
    this.forms[other].form.hidden = true;
    const h = $('account-h');
    h.dataset.i18n = which === 'signin' ? 'account.signIn' : 'account.createOne';
    h.textContent = t(h.dataset.i18n);
    // Carry the name over: whoever typed it meant it.
    if (!this.forms[which].user.value) this.forms[which].user.value = this.forms[other].user.value;
    this.forms[which].user.focus();
  }

  focusSignIn() {
    if (this.forms.signin.form.hidden) this.show('signin');
    this.card.hidden = false;
    this.card.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
    const f = this.forms.signin;
    (f.user.value ? f.pass : f.user).focus();
  }

  fieldError(f, name, msg) {
    const input = name === 'username' ? f.user : f.pass;
    f.err[name].textContent = msg;
    if (msg) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  message(f, kind, text) {
    f.msg.className = `msg ${kind}`;
    f.msg.textContent = text;
  }

  /** Checks the form; returns {username, password} or null (the errors are shown). */
  read(f, signUp) {
    const values = { username: f.user.value.trim(), password: f.pass.value };
    const errors = validateCredentials(values, { signUp });
    // The messages come and go above the button: the page scrolls along, the button stays put.
    keepInPlace(f.btn, () => {
      this.message(f, '', '');
      this.fieldError(f, 'username', errors.username || '');
      this.fieldError(f, 'password', errors.password || '');
    });
    const bad = errors.username ? f.user : errors.password ? f.pass : null;
    if (bad) {
      const r = bad.getBoundingClientRect();
      const top = document.querySelector('.topbar')?.getBoundingClientRect().bottom ?? 0;
      bad.focus({ preventScroll: r.top >= top && r.bottom <= window.innerHeight });
    }
    return bad ? null : values;
  }

  /** Runs `fn` with the form's button disabled and aria-busy; null at once while one runs. */
  async busy(f, fn) {
    if (f.pending) return null;
    f.pending = true;
    f.btn.disabled = true;
    f.btn.setAttribute('aria-busy', 'true');
    f.btn.classList.add('busy');
    try {
      return await fn();
    } finally {
      f.pending = false;
      f.btn.classList.remove('busy');
      f.btn.removeAttribute('aria-busy');
      if (!this.lockTimer || f !== this.forms.signin) f.btn.disabled = false;
    }
  }

  async signIn() {
    const f = this.forms.signin;
    if (f.pending) return; // one at a time (Enter in a field while the first is under way)
    const values = this.read(f, false);
    if (!values) return;
    await this.busy(f, async () => {
      try {
        const r = await account.signIn(values.username, values.password);
        f.pass.value = '';
        this.signedInAt = Date.now();
        rememberUsername(r.body.username);
        this.set('required', r.body);
        this.welcome(t('account.signedIn', { name: r.body.username }));
      } catch (err) {
        this.signInFailed(f, err);
      }
    });
  }

  signInFailed(f, err) {
    if (err.status === 401) {
      this.message(f, 'error', t('account.wrong'));
      f.pass.select();
      f.pass.focus();
    } else if (err.status === 429) {
      this.lockOut(f, retryAfterSeconds(err.retryAfter));
    } else if (err.status === 404) {
      this.message(f, 'error', t('account.noAccounts'));
      this.set('off', null);
    } else {
      this.message(f, 'error', this.describe(err, t('account.signInFailed')));
    }
  }

  /** 429: says how long to wait, counts down, and keeps the button disabled meanwhile. */
  lockOut(f, seconds) {
    clearInterval(this.lockTimer);
    this.lockTimer = null;
    this.message(f, 'error', tooManyMessage(seconds));
    f.msg.dataset.wait = String(seconds ?? '');
    if (seconds === null) return;
    const until = Date.now() + seconds * 1000;
    f.btn.disabled = true;
    this.lockTimer = setInterval(() => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      f.msg.textContent = tooManyMessage(left);
      f.msg.dataset.wait = String(left);
      if (left === 0) {
        clearInterval(this.lockTimer);
        this.lockTimer = null;
        f.msg.className = 'msg ok';
        f.btn.disabled = false;
      }
    }, 1000);
  }

  async signUp() {
    const f = this.forms.signup;
    if (f.pending) return;
    const values = this.read(f, true);
    if (!values) return;
    await this.busy(f, async () => {
      try {
        await account.signUp(values.username, values.password);
      } catch (err) {
        if (err.status === 409) {
          this.fieldError(f, 'username', t('account.takenField'));
          this.message(f, 'error', t('account.taken'));
          f.user.select();
          f.user.focus();
        } else if (err.status === 400) {
          const field = credentialFieldOf(err.detail);
          if (field) this.fieldError(f, field, t('account.serverSays', { detail: err.detail }));
          this.message(f, 'error', this.describe(err, t('account.notCreated')));
          (field === 'password' ? f.pass : f.user).focus();
        } else if (err.status === 403) {
          this.message(f, 'error', t('account.adminOnly'));
        } else if (err.status === 404) {
          this.message(f, 'error', t('account.noAccounts'));
          this.set('off', null);
        } else {
          this.message(f, 'error', this.describe(err, t('account.notCreated')));
        }
        return;
      }
      // Created: sign in with the same name and password right away (a node the new account
      // has not reached yet says 401: tried again, briefly).
      try {
        const r = await this.fresh(() => account.signIn(values.username, values.password), { force: true });
        f.pass.value = '';
        this.signedInAt = Date.now();
        rememberUsername(r.body.username);
        this.forms.signin.user.value = values.username;
        this.show('signin');
        this.set('required', r.body);
        this.welcome(t('account.welcome', { name: r.body.username }));
      } catch (err) {
        f.pass.value = '';
        this.show('signin');
        this.forms.signin.user.value = values.username;
        this.message(this.forms.signin, 'ok', t('account.created', { name: values.username }));
        if (err instanceof ApiError && err.status !== 401) this.signInFailed(this.forms.signin, err);
      }
    });
  }

  /** After signing in: say so in the status form and put the cursor there. */
  welcome(text) {
    this.message(this.forms.signin, '', '');
    this.message(this.forms.signup, '', '');
    const ok = $('form-ok');
    ok.textContent = `${text} ${t('account.setNow')}`;
    $('f-text').focus();
  }

  async signOut() {
    const btn = $('signout-btn');
    btn.disabled = true;
    try {
      await account.signOut();
    } catch (err) {
      // 401: the session had ended already; signed out either way.
      if (err.status !== 401) {
        this.message(this.forms.signin, 'error', this.describe(err, t('account.signOutFailed')));
        btn.disabled = false;
        return;
      }
    }
    btn.disabled = false;
    const name = this.access.me?.username;
    this.set('required', null);
    this.show('signin');
    if (name) this.forms.signin.user.value = name;
    this.message(this.forms.signin, 'ok', t('account.signedOut'));
    this.forms.signin.pass.focus();
  }
}
