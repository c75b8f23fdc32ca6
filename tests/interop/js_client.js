// Drives the real eureka-js-client against a status-registry at 127.0.0.1:$REGISTRY_PORT:
// register, full fetch, heartbeats, re-registration after a 404, delta fetches, deregistration.
// With REGISTRY_AUTH=user:password (a registry with --credentials-file), the clients are given
// serviceUrls with those credentials (http://user:password@127.0.0.1:PORT/eureka/apps/, as a
// Spring or Node service is configured), and a client without them must be refused.
// Prints one line per step; exits 0 when every step passed, 1 otherwise. Bounded: 30 s.
'use strict';

const http = require('http');
const { Eureka } = require('eureka-js-client');

const port = Number(process.env.REGISTRY_PORT);
const auth = process.env.REGISTRY_AUTH || '';
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

// The client's own way to its registry: host/port/servicePath without credentials, a service
// URL with them in its userinfo otherwise.
function registryConfig(servicePath, credentials) {
  if (!credentials) return { host: '127.0.0.1', port, servicePath };
  const [user, ...rest] = credentials.split(':');
  const userinfo = `${encodeURIComponent(user)}:${encodeURIComponent(rest.join(':'))}`;
  return { serviceUrls: { default: [`http://${userinfo}@127.0.0.1:${port}${servicePath}`] } };
}

function client(app, hostName, appPort, servicePath, credentials = auth) {
  return new Eureka({
    logger: quiet,
    shouldUseDelta: true,
    instance: {
      app,
      hostName,
      ipAddr: '127.0.0.1',
      port: { $: appPort, '@enabled': true },
      vipAddress: `${app}.vip`,
      dataCenterInfo: {
        '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo',
        name: 'MyOwn',
      },
    },
    eureka: {
      ...registryConfig(servicePath, credentials), // the library's default path: /eureka/v2/apps/
      heartbeatInterval: 300,
      registryFetchInterval: 300,
      maxRetries: 0,
    },
  });
}

function del(path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'DELETE', auth: auth || undefined }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end();
  });
}

const once = (emitter, event) => new Promise((resolve) => emitter.once(event, resolve));
const promisify = (fn) => new Promise((resolve, reject) => fn((err) => (err ? reject(err) : resolve())));

async function until(what, predicate, ms = 5000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out: ${what}`);
}

function step(name) {
  console.log(`ok ${name}`);
}

async function main() {
  if (auth) {
    // Without credentials, and with a wrong password: the registration is refused (401).
    for (const wrong of ['', `${auth.split(':')[0]}:not-the-password`]) {
      const intruder = client('intruder', 'intruderhost', 9999, '/eureka/apps/', wrong);
      const err = await promisify((cb) => intruder.register(cb)).then(() => null, (e) => e);
      if (!err || !/status: 401/.test(String(err))) throw new Error(`intruder registered: ${err}`);
    }
    step('refused without or with wrong credentials (401)');
  }
  const a = client('jqservice', 'localhost', 8080, '/eureka/v2/apps/');
  await promisify((cb) => a.start(cb));
  step('register + full fetch (v2 path)');
  await until('own instance in cache', () => a.getInstancesByAppId('JQSERVICE').length === 1);
  const mine = a.getInstancesByAppId('JQSERVICE')[0];
  if (mine.port.$ !== 8080 || mine.status !== 'UP') throw new Error(`odd instance ${JSON.stringify(mine)}`);
  step('getInstancesByAppId');
  if (a.getInstancesByVipAddress('jqservice.vip').length !== 1) throw new Error('vip lookup failed');
  step('getInstancesByVipAddress');
  await once(a, 'heartbeat');
  step('heartbeat 200');

  // A second client under the other path: the first sees it through its delta fetches.
  const b = client('otherservice', 'otherhost', 8081, '/eureka/apps/');
  await promisify((cb) => b.start(cb));
  await until('delta brings OTHERSERVICE', () => a.getInstancesByAppId('OTHERSERVICE').length === 1);
  step('register (/eureka/apps) + delta ADDED');

  // The registry forgets b: b's next heartbeat gets 404 and the client registers again.
  const status = await del('/eureka/apps/OTHERSERVICE/otherhost');
  if (status !== 200) throw new Error(`DELETE answered ${status}`);
  await once(b, 'registered');
  step('re-register after heartbeat 404');

  await promisify((cb) => b.stop(cb));
  step('deregister 200');
  await until('delta brings the DELETE', () => a.getInstancesByAppId('OTHERSERVICE').length === 0);
  step('delta DELETED');
  await promisify((cb) => a.stop(cb));
  step('done');
}

const timer = setTimeout(() => {
  console.log('not ok: timed out after 30 s');
  process.exit(1);
}, 30000);
main().then(
  () => {
    clearTimeout(timer);
    process.exit(0);
  },
  (err) => {
    console.log(`not ok: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  },
);
